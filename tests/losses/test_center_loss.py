import numpy as np
import pytest
import tensorflow as tf

from kerasimb.losses import CenterLoss, center_loss, center_update
from kerasimb.testing import TestCase

import metric_loss_references as ref


class CenterLossTest(TestCase):
    def _batch(self, seed=0, n=9, d=5, c=3):
        rng = np.random.default_rng(seed)
        return rng.integers(0, c, n), rng.normal(size=(n, d)), rng.normal(size=(c, d))

    def test_matches_naive_loop_random(self):
        for seed in range(3):
            labels, features, centers = self._batch(seed)
            expected = ref.center_loss(labels, features, centers)
            got = center_loss(labels, features.astype("float32"), centers.astype("float32"))
            self.assertAllClose(got, expected, rtol=1e-5)

    def test_hand_made(self):
        centers = np.array([[0.0, 0.0], [2.0, 2.0]], "float32")
        features = np.array([[3.0, 4.0], [2.0, 2.0]], "float32")  # 25 and 0
        self.assertAllClose(center_loss(np.array([0, 1]), features, centers), 12.5)

    def test_one_hot_and_column_labels_agree(self):
        labels, features, centers = self._batch(1)
        one_hot = np.eye(3)[labels]
        a = center_loss(labels, features, centers)
        self.assertAllClose(center_loss(one_hot, features, centers), a)
        self.assertAllClose(center_loss(labels[:, None], features, centers), a)

    def test_single_class_and_single_sample(self):
        features = np.array([[1.0, 1.0]], "float32")
        centers = np.zeros((4, 2), "float32")
        self.assertAllClose(center_loss(np.array([3]), features, centers), 2.0)
        labels = np.zeros(5, "int64")
        feats = np.random.default_rng(0).normal(size=(5, 2))
        self.assertAllClose(center_loss(labels, feats, centers),
                            ref.center_loss(labels, feats, centers.astype("float64")), rtol=1e-5)

    def test_class_matches_function_and_sample_weight(self):
        labels, features, centers = self._batch(2)
        loss = CenterLoss()
        self.assertAllClose(loss(labels, (features, centers)),
                            ref.center_loss(labels, features, centers), rtol=1e-5)
        weights = np.zeros(len(labels))
        weights[0] = 1.0
        expected = np.sum((features[0] - centers[labels[0]]) ** 2) / len(labels)
        self.assertAllClose(loss(labels, (features, centers), sample_weight=weights), expected,
                            rtol=1e-5)

    def test_gradients_finite_and_correct(self):
        labels, features, centers = self._batch(3)
        f = tf.Variable(features.astype("float32"))
        with tf.GradientTape() as tape:
            value = center_loss(labels, f, centers.astype("float32"))
        grad = tape.gradient(value, f).numpy()
        self.assertTrue(np.all(np.isfinite(grad)))
        self.assertAllClose(grad, 2 * (features - centers[labels]) / len(labels), rtol=1e-5,
                            atol=1e-6)

    def test_wen_update_matches_naive_loop(self):
        labels, features, centers = self._batch(4, n=7, c=4)  # some class may be absent
        labels[labels == 3] = 0
        got = center_update(labels, features.astype("float32"), centers.astype("float32"), 0.5)
        expected = ref.center_update(labels, features, centers, 0.5)
        self.assertAllClose(got, expected, rtol=1e-5, atol=1e-6)
        self.assertAllClose(np.asarray(got)[3], centers[3], rtol=1e-6)  # absent class unchanged

    def test_config_round_trip(self):
        self.run_serialization_test(CenterLoss(name="c"))
        self.run_keras_file_test(CenterLoss())

    def test_errors(self):
        with pytest.raises(ValueError, match="Expected a tuple"):
            CenterLoss()(np.array([0]), np.zeros((1, 2), "float32"))
        with pytest.raises(ValueError, match="Expected shape"):
            center_loss(np.array([0]), np.zeros((1, 2), "float32"), np.zeros((2, 3), "float32"))
        with pytest.raises(ValueError, match="Received: alpha=2.0"):
            center_update(np.array([0]), np.zeros((1, 2)), np.zeros((2, 2)), alpha=2.0)
