"""q-power sampling: probabilities, the sampled pipeline's statistics, seeds and errors."""

import math

import numpy as np
import pytest
import tensorflow as tf

from kerasimb import data
from kerasimb.data.sampling import IndexTable
from kerasimb.testing import TestCase

COUNTS = [300, 120, 40, 15, 5]


def _toy(counts=COUNTS, size=4):
    y = np.repeat(np.arange(len(counts)), counts)
    # pixel value = example index mod 256 in channel 0, class id in channel 1
    x = np.zeros((len(y), size, size, 2), "uint8")
    x[..., 0] = (np.arange(len(y)) % 256)[:, None, None]
    x[..., 1] = y[:, None, None]
    return x, y


def _labels(ds, batches):
    it = iter(ds)
    return np.concatenate([next(it)[1].numpy() for _ in range(batches)])


class ClassProbabilitiesTest(TestCase):
    def test_closed_form(self):
        n = np.array(COUNTS, float)
        for q in (1.0, 0.5, 0.0, -0.5, 2.0):
            self.assertAllClose(data.class_probabilities(COUNTS, q), n**q / np.sum(n**q))

    def test_code_convention_flips_exponent(self):
        self.assertAllClose(data.class_probabilities(COUNTS, 0.0, convention="code"),
                            np.array(COUNTS) / sum(COUNTS))
        self.assertAllClose(data.class_probabilities(COUNTS, 1.0, convention="code"),
                            np.full(5, 0.2))

    def test_errors(self):
        with pytest.raises(ValueError, match="Every class needs at least one example"):
            data.class_probabilities([3, 0, 2], 0.0)
        with pytest.raises(ValueError, match="Received: q=nan"):
            data.class_probabilities([3, 2], float("nan"))
        with pytest.raises(ValueError, match="Received: convention='torch'"):
            data.class_probabilities([3, 2], 0.0, convention="torch")


class SampledDatasetTest(TestCase):
    def test_empirical_frequencies_match_p(self):
        # Over M draws the frequency of class j has standard error sqrt(p(1-p)/M); allow 5 of
        # them (the chance that any of 5 classes exceeds this by accident is below 3e-6).
        x, y = _toy()
        batch, batches = 500, 40
        m = batch * batches
        for q in (1.0, 0.5, 0.0):
            p = data.class_probabilities(COUNTS, q)
            labels = _labels(data.sampled_dataset(x, y, q=q, batch_size=batch, seed=3), batches)
            freq = labels.mean(axis=0)
            tolerance = 5 * np.sqrt(p * (1 - p) / m)
            assert np.all(np.abs(freq - p) <= tolerance), (q, freq, p, tolerance)

    def test_images_match_labels_and_are_uniform_within_class(self):
        x, y = _toy()
        images, labels = next(iter(data.sampled_dataset(x, y, q=0.0, batch_size=4000, seed=1)))
        images, labels = images.numpy(), labels.numpy()
        # channel 1 holds the class id / 255: the gathered image belongs to the drawn class
        np.testing.assert_array_equal(np.round(images[:, 0, 0, 1] * 255), labels.argmax(1))
        # class 4 (5 examples, indices 475..479): each drawn about equally (chi-square test)
        from scipy import stats

        ids = np.round(images[labels.argmax(1) == 4, 0, 0, 0] * 255).astype(int)
        assert set(ids) == {i % 256 for i in range(475, 480)}
        assert stats.chisquare(np.bincount(ids - 475 % 256)).pvalue > 1e-4

    def test_seed_reproduces_batches(self):
        x, y = _toy()
        a = next(iter(data.sampled_dataset(x, y, 0.5, 64, seed=7, augment=True)))
        b = next(iter(data.sampled_dataset(x, y, 0.5, 64, seed=7, augment=True)))
        c = next(iter(data.sampled_dataset(x, y, 0.5, 64, seed=8, augment=True)))
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
        assert not np.array_equal(a[0].numpy(), c[0].numpy())

    def test_output_types_and_fit(self):
        import keras

        x, y = _toy()
        ds = data.sampled_dataset(x, y, 0.0, 32, seed=0)
        images, labels = next(iter(ds))
        assert images.dtype == tf.float32 and labels.dtype == tf.float32
        assert float(tf.reduce_max(images)) <= 1.0
        model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(5)])
        model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
        history = model.fit(ds, epochs=1, steps_per_epoch=math.ceil(len(y) / 32), verbose=0)
        assert np.isfinite(history.history["loss"][0])

    def test_variable_weights_change_running_pipeline(self):
        x, y = _toy()
        weights = data.SamplingWeights(COUNTS, q=1.0)
        it = iter(data.sampled_dataset(x, y, q=weights, batch_size=2000, seed=0))
        before = next(it)[1].numpy().mean(0)
        weights.set_q(0.0)
        for _ in range(16):  # flush batches already prefetched with the old probabilities
            next(it)
        after = next(it)[1].numpy().mean(0)
        assert before[4] < 0.03 and abs(after[4] - 0.2) < 0.05

    def test_index_table_is_sorted_by_class(self):
        y = np.array([2, 0, 1, 0, 2, 2])
        table = IndexTable(y, 3)
        np.testing.assert_array_equal(y[table.order.numpy()], [0, 0, 1, 2, 2, 2])
        np.testing.assert_array_equal(table.starts.numpy(), [0, 2, 3])

    def test_errors(self):
        x, y = _toy()
        with pytest.raises(ValueError, match="Every class needs at least one example"):
            data.sampled_dataset(x, y, 0.0, num_classes=7)
        with pytest.raises(ValueError, match="same number of examples"):
            data.sampled_dataset(x, y[:-1], 0.0)
        with pytest.raises(ValueError, match="batch_size"):
            data.sampled_dataset(x, y, 0.0, batch_size=0)
        with pytest.raises(ValueError, match="SamplingWeights"):
            data.sampled_dataset(x, y, data.SamplingWeights([1, 2]))
        with pytest.raises(ValueError, match="summing to 1"):
            data.SamplingWeights([1, 2]).set_probabilities([0.5, 0.6])


def test_effective_class_distribution_closed_forms():
    n = np.array(COUNTS, float)
    pi = n / n.sum()
    np.testing.assert_allclose(data.effective_class_distribution(COUNTS, "instance"), pi)
    np.testing.assert_allclose(data.effective_class_distribution(COUNTS, "class"), np.full(5, 0.2))
    np.testing.assert_allclose(data.effective_class_distribution(COUNTS, "sqrt"),
                               np.sqrt(n) / np.sqrt(n).sum())
    for alpha in (0.1, 0.3):
        np.testing.assert_allclose(
            data.effective_class_distribution(COUNTS, "balanced-mixup", alpha=alpha),
            pi / (1 + alpha) + alpha / (1 + alpha) / 5,
        )


def test_class_probabilities_large_q_is_the_limit_not_nan():
    import warnings

    from kerasimb.data import class_probabilities
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old overflow warning fails the test too
        p = class_probabilities([1000, 10, 1000], q=1000)
        np.testing.assert_allclose(p, [0.5, 0.0, 0.5], atol=1e-12)
        p = class_probabilities([1000, 10], q=-1000)
        np.testing.assert_allclose(p, [0.0, 1.0], atol=1e-12)
        p = class_probabilities([5, 3], q=200, convention="code")
        np.testing.assert_allclose(p, [0.0, 1.0], atol=1e-12)
    assert np.all(np.isfinite(p)) and abs(p.sum() - 1) < 1e-12
    np.testing.assert_allclose(class_probabilities([9, 1], q=0.5), [0.75, 0.25])
