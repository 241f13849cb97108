import numpy as np
import pytest
import tensorflow as tf

from kerasimb.losses import SupConLoss, contrastive_loss_from_logits, supervised_contrastive_loss
from kerasimb.losses.supcon import flatten_views
from kerasimb.testing import TestCase

import metric_loss_references as ref


class SupConLossTest(TestCase):
    def test_matches_naive_loop_one_view(self):
        rng = np.random.default_rng(0)
        for temperature, base in ((0.05, None), (0.5, 0.07), (1.0, None)):
            labels = rng.integers(0, 3, 9)
            features = rng.normal(size=(9, 5))
            got = supervised_contrastive_loss(labels, features.astype("float32"), temperature,
                                              base)
            self.assertAllClose(got, ref.supcon(list(labels), features, temperature, base),
                                rtol=1e-4)

    def test_matches_naive_loop_two_views(self):
        rng = np.random.default_rng(1)
        labels = np.array([0, 1, 2, 3, 0])  # classes 1-3 have one sample: positive = other view
        features = rng.normal(size=(5, 2, 4))
        got = SupConLoss(temperature=0.2)(labels, features.astype("float32"))
        self.assertAllClose(got, ref.supcon(list(labels), features, 0.2), rtol=1e-4)

    def test_hand_made(self):
        # Two identical unit vectors of class 0 and an orthogonal one of class 1, T = 1:
        # anchors 0, 1: -log(e / (e + 1)); anchor 2 has no positive and is skipped.
        features = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]], "float32")
        expected = -np.log(np.e / (np.e + 1.0))
        self.assertAllClose(supervised_contrastive_loss(np.array([0, 0, 1]), features, 1.0),
                            expected, rtol=1e-6)

    def test_no_positive_gives_zero_not_nan(self):
        features = np.random.default_rng(2).normal(size=(4, 3)).astype("float32")
        self.assertEqual(float(supervised_contrastive_loss(np.arange(4), features)), 0.0)
        self.assertEqual(float(supervised_contrastive_loss(np.array([1]), features[:1])), 0.0)

    def test_one_class_batch(self):
        features = np.random.default_rng(3).normal(size=(4, 3))
        # Every other sample is a positive of every anchor.
        self.assertAllClose(supervised_contrastive_loss(np.zeros(4, "int64"),
                                                        features.astype("float32"), 0.1),
                            ref.supcon([0] * 4, features, 0.1), rtol=1e-4)

    def test_gradients_finite(self):
        rng = np.random.default_rng(4)
        for labels in (np.array([0, 0, 1, 2]), np.arange(4), np.zeros(4, "int64")):
            f = tf.Variable(rng.normal(size=(4, 3)).astype("float32"))
            with tf.GradientTape() as tape:
                value = supervised_contrastive_loss(labels, f, 0.05)
            grad = tape.gradient(value, f).numpy()
            self.assertTrue(np.all(np.isfinite(grad)))

    def test_core_with_extra_columns_is_a_weighted_softmax(self):
        # PaCo-style use: 2 class logits + 2 sample similarities, weighted positives.
        logits = np.array([[1.0, 2.0, 0.5, -1.0]], "float32")
        candidates = np.array([[1.0, 1.0, 1.0, 0.0]], "float32")  # last column is the anchor
        weights = np.array([[0.0, 2.0, 1.0, 0.0]], "float32")
        log_z = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(0.5))
        expected = -(2.0 * (2.0 - log_z) + 1.0 * (0.5 - log_z)) / 3.0
        loss, has = contrastive_loss_from_logits(logits, weights, candidates)
        self.assertAllClose(loss, [expected], rtol=1e-6)
        self.assertAllClose(has, [1.0])
        loss, has = contrastive_loss_from_logits(logits, np.zeros_like(weights), candidates)
        self.assertAllClose(loss, [0.0])
        self.assertAllClose(has, [0.0])

    def test_config_round_trip(self):
        self.run_serialization_test(SupConLoss(temperature=0.1, base_temperature=0.07))
        self.run_keras_file_test(SupConLoss())

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: temperature=0.0"):
            SupConLoss(temperature=0.0)
        with pytest.raises(ValueError, match="Received: base_temperature=-1.0"):
            SupConLoss(base_temperature=-1.0)
        with pytest.raises(ValueError, match="views"):
            supervised_contrastive_loss(np.array([0]), np.zeros((1, 1, 1, 2), "float32"))
        with pytest.raises(ValueError, match="sample_weight"):
            SupConLoss()(np.array([0, 0]), np.ones((2, 2), "float32"), sample_weight=[1, 1])


def test_flatten_views_is_view_major():
    features = np.array([[[1.0, 1.5], [2.0, 2.5]], [[3.0, 3.5], [4.0, 4.5]],
                         [[5.0, 5.5], [6.0, 6.5]]])
    labels, flat = flatten_views(np.array([[0], [2], [1]]), features)
    # Every sample's first view (rows 1, 3, 5), then every second view (2, 4, 6).
    np.testing.assert_array_equal(np.asarray(labels), [0, 2, 1, 0, 2, 1])
    np.testing.assert_array_equal(np.asarray(flat), [[1.0, 1.5], [3.0, 3.5], [5.0, 5.5],
                                                     [2.0, 2.5], [4.0, 4.5], [6.0, 6.5]])
    labels, flat = flatten_views([1, 0], np.ones((2, 3)))  # one view: unchanged
    assert tuple(flat.shape) == (2, 3) and np.asarray(flat).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(batch, views, feature_dim\)"):
        flatten_views([0], np.ones((1, 2, 3, 4)))
