"""Balanced-MixUp, MixUp, CutMix and Remix pipelines: statistics against closed forms, seeds,
errors."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from kerasimb import data
from kerasimb.data import mixing

COUNTS = [400, 150, 60, 25, 10]
K = len(COUNTS)


def _one_hot_images(counts=COUNTS, size=6):
    """Images whose channel k is 255 where the label is k: a mixed image equals its mixed label."""
    y = np.repeat(np.arange(len(counts)), counts)
    x = np.zeros((len(y), size, size, len(counts)), "uint8")
    x[np.arange(len(y)), :, :, y] = 255
    return x, y


def _batches(ds, n):
    it = iter(ds)
    out = [next(it) for _ in range(n)]
    return np.stack([b[0].numpy() for b in out]), np.stack([b[1].numpy() for b in out])


def test_beta_alpha_one_distribution():
    for alpha in (0.1, 0.3):
        lam = mixing.beta_alpha_one((20000,), tf.constant([1, 2], tf.int64), alpha).numpy()
        assert stats.kstest(lam, stats.beta(alpha, 1.0).cdf).pvalue > 1e-3
        se = stats.beta(alpha, 1.0).std() / np.sqrt(len(lam))
        assert abs(lam.mean() - alpha / (1 + alpha)) < 5 * se


def test_beta_symmetric_distribution():
    for alpha in (0.2, 1.0):
        lam = mixing.beta_symmetric((20000,), tf.constant([3, 4], tf.int64), alpha).numpy()
        # float32 rounds ~2% of Beta(0.2, 0.2) draws to exactly 1.0, so test the lower half
        # (exact in float32) against the truncated distribution 2 F(x), and the split at 1/2.
        low = lam[lam < 0.5].astype("float64")
        assert stats.kstest(low, lambda v: 2 * stats.beta(alpha, alpha).cdf(v)).pvalue > 1e-3
        assert stats.binomtest(len(low), len(lam), 0.5).pvalue > 1e-3


class TestBalancedMixUp:
    def test_label_mass_and_mean_weight_match_closed_form(self):
        x, y = _one_hot_images()
        n = np.array(COUNTS, float)
        pi = n / n.sum()
        batch, batches = 128, 150  # 19200 examples, about 30 epochs of the instance stream
        for alpha in (0.1, 0.3):
            _, labels = _batches(data.balanced_mixup_dataset(x, y, alpha, batch, seed=5), batches)
            per_batch = labels.mean(axis=1)  # (batches, K) label mass of each batch
            mass = per_batch.mean(axis=0)
            se = per_batch.std(axis=0, ddof=1) / np.sqrt(batches)
            expected = pi / (1 + alpha) + (alpha / (1 + alpha)) / K
            assert np.all(np.abs(mass - expected) <= 5 * se + 1e-3), (alpha, mass, expected, se)
            # mean weight on the class-sampled batch, solved by least squares from
            # mass_j = (1 - w) pi_j + w / K
            d = 1.0 / K - pi
            w_per_batch = (per_batch - pi) @ d / (d @ d)
            w_se = w_per_batch.std(ddof=1) / np.sqrt(batches)
            assert abs(w_per_batch.mean() - alpha / (1 + alpha)) <= 5 * w_se + 1e-3

    def test_images_and_labels_mixed_with_the_same_weight(self):
        x, y = _one_hot_images()
        for per_example in (False, True):
            images, labels = next(iter(data.balanced_mixup_dataset(
                x, y, 0.3, 64, per_example=per_example, seed=0)))
            np.testing.assert_allclose(images.numpy()[:, 2, 3, :], labels.numpy(), atol=1e-6)

    def test_per_batch_versus_per_example_lambda(self):
        x, y = _one_hot_images()

        def minor_weights(per_example):
            _, labels = next(iter(data.balanced_mixup_dataset(
                x, y, 1.0, 256, per_example=per_example, seed=1)))
            labels = labels.numpy()
            mixed = labels[(labels > 1e-6).sum(axis=1) == 2]  # rows mixing two classes
            return np.sort(mixed, axis=1)[:, -2]  # min(λ, 1 - λ) of each row

        assert np.ptp(minor_weights(False)) < 1e-6
        assert np.ptp(minor_weights(True)) > 0.1

    def test_seed_reproduces_batches(self):
        x, y = _one_hot_images()
        a = _batches(data.balanced_mixup_dataset(x, y, 0.2, 32, seed=9, augment=True), 3)
        b = _batches(data.balanced_mixup_dataset(x, y, 0.2, 32, seed=9, augment=True), 3)
        c = _batches(data.balanced_mixup_dataset(x, y, 0.2, 32, seed=10, augment=True), 3)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.array_equal(a[1], c[1])

    def test_errors(self):
        x, y = _one_hot_images()
        for alpha in (0.0, -0.1):
            with pytest.raises(ValueError, match=f"Received: alpha={alpha}"):
                data.balanced_mixup_dataset(x, y, alpha)
        with pytest.raises(ValueError, match=r"no examples for classes \[5\]"):
            data.balanced_mixup_dataset(x, y, 0.1, num_classes=6)
        with pytest.raises(ValueError, match="same number of examples"):
            data.balanced_mixup_dataset(x[:-2], y, 0.1)
        with pytest.raises(ValueError, match="Expected images of shape"):
            data.balanced_mixup_dataset(x[:, :, :, 0], y, 0.1)
        with pytest.raises(TypeError, match="per_example"):
            data.balanced_mixup_dataset(x, y, 0.1, per_example=1)


class TestMixUpCutMixRemix:
    def test_mixup_images_match_labels_and_mass_is_instance(self):
        x, y = _one_hot_images()
        images, labels = _batches(data.mixup_dataset(x, y, 0.4, 50, seed=2), 129)  # 6450 = 10 epochs
        np.testing.assert_allclose(images[:, :, 1, 1, :], labels, atol=1e-6)
        np.testing.assert_allclose(labels.reshape(-1, K).mean(0), np.array(COUNTS) / sum(COUNTS),
                                   atol=1e-6)

    def test_cutmix_label_weight_is_pasted_area(self):
        x, y = _one_hot_images(size=8)
        for per_example in (False, True):
            images, labels = next(iter(data.cutmix_dataset(x, y, 1.0, 64, per_example, seed=3)))
            np.testing.assert_allclose(images.numpy().mean(axis=(1, 2)), labels.numpy(), atol=1e-6)

    def test_cutmix_boxes_area(self):
        lam = tf.constant([0.75, 0.0, 1.0])
        mask, adjusted = mixing.cutmix_boxes(16, 16, lam, tf.constant([0, 1], tf.int64))
        area = mask.numpy().mean(axis=(1, 2, 3))
        np.testing.assert_allclose(1.0 - area, adjusted.numpy(), atol=1e-6)
        assert area[2] == 0.0  # λ = 1: no box

    def test_remix_label_rule_against_numpy(self):
        rng = np.random.default_rng(0)
        lam = rng.random(200).astype("float32")
        n_a, n_b = rng.integers(1, 100, 200), rng.integers(1, 100, 200)
        ratio = n_a / n_b
        expected = np.where((ratio >= 3) & (lam < 0.5), 0.0,
                            np.where((ratio <= 1 / 3) & (1 - lam < 0.5), 1.0, lam))
        got = mixing.remix_label_weight(tf.constant(lam), n_a, n_b, 3.0, 0.5).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-7)

    def test_remix_pipeline_moves_mass_to_minority(self):
        x, y = _one_hot_images()
        _, remix = _batches(data.remix_dataset(x, y, batch_size=64, per_example=True, seed=4), 50)
        _, mixup = _batches(data.mixup_dataset(x, y, batch_size=64, per_example=True, seed=4), 50)
        assert remix.reshape(-1, K).mean(0)[0] < mixup.reshape(-1, K).mean(0)[0] - 0.02
        np.testing.assert_allclose(remix.sum(-1), 1.0, atol=1e-6)

    def test_errors(self):
        x, y = _one_hot_images()
        with pytest.raises(ValueError, match="Received: alpha=0.0"):
            data.mixup_dataset(x, y, 0.0)
        with pytest.raises(ValueError, match="Received: alpha=-1.0"):
            data.cutmix_dataset(x, y, -1.0)
        with pytest.raises(ValueError, match="Received: kappa=0.5"):
            data.remix_dataset(x, y, kappa=0.5)
        with pytest.raises(ValueError, match="Received: tau=1.5"):
            data.remix_dataset(x, y, tau=1.5)
