import numpy as np
import pytest
import tensorflow as tf

from kerasimb.losses import TripletLoss, triplet_loss
from kerasimb.testing import TestCase

import metric_loss_references as ref

SETTINGS = [(m, d) for m in ("batch_hard", "batch_all") for d in ("euclidean", "squared")]


def _naive(labels, features, margin, mining, kind):
    fn = ref.triplet_batch_hard if mining == "batch_hard" else ref.triplet_batch_all
    return fn(list(labels), features, margin, kind)


class TripletLossTest(TestCase):
    def test_matches_naive_loop_random(self):
        rng = np.random.default_rng(0)
        for mining, kind in SETTINGS:
            for margin in (0.5, 3.0):
                labels = rng.integers(0, 3, 10)
                features = rng.normal(size=(10, 4))
                got = triplet_loss(labels, features.astype("float32"), margin, mining, kind)
                self.assertAllClose(got, _naive(labels, features, margin, mining, kind),
                                    rtol=1e-4, atol=1e-5, msg=f"{mining} {kind} {margin}")

    def test_hand_made(self):
        features = np.array([[0.0], [1.0], [3.0]], "float32")
        labels = np.array([0, 0, 1])
        # batch hard: anchor 0: 1 - 3 + m; anchor 1: 1 - 2 + m; anchor 2 has no positive.
        self.assertAllClose(triplet_loss(labels, features, 3.0), ((1.0) + (2.0)) / 2)
        # batch all: triplets (0,1,2): 1 - 3 + m and (1,0,2): 1 - 2 + m, same here.
        self.assertAllClose(triplet_loss(labels, features, 3.0, "batch_all"), 1.5)

    def test_degenerate_batches_give_zero_not_nan(self):
        features = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
        for mining, kind in SETTINGS:
            one_class = triplet_loss(np.zeros(4, "int64"), features, 50.0, mining, kind)
            all_distinct = triplet_loss(np.arange(4), features, 50.0, mining, kind)
            single = triplet_loss(np.array([2]), features[:1], 50.0, mining, kind)
            for value in (one_class, all_distinct, single):
                self.assertEqual(float(value), 0.0)

    def test_class_with_one_sample_is_skipped_as_anchor(self):
        rng = np.random.default_rng(2)
        labels = np.array([0, 0, 0, 1, 1, 2])  # class 2 has one sample: negative only
        features = rng.normal(size=(6, 2))
        for mining, kind in SETTINGS:
            self.assertAllClose(triplet_loss(labels, features, 1.0, mining, kind),
                                _naive(labels, features, 1.0, mining, kind), rtol=1e-4, atol=1e-5)

    def test_gradients_finite_with_duplicate_features(self):
        features = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.0, 0.0]], "float32")
        labels = np.array([0, 0, 1, 1])
        for mining, kind in SETTINGS + [("batch_hard", "euclidean")]:
            f = tf.Variable(features)
            with tf.GradientTape() as tape:
                value = triplet_loss(labels, f, 50.0, mining, kind)
            grad = tape.gradient(value, f).numpy()
            self.assertTrue(np.all(np.isfinite(grad)), f"{mining} {kind}")
            with tf.GradientTape() as tape:
                value = triplet_loss(np.zeros(4, "int64"), f, 50.0, mining, kind)
            grad = tape.gradient(value, f)
            self.assertTrue(grad is None or np.all(np.isfinite(grad.numpy())))

    def test_class_and_one_hot(self):
        rng = np.random.default_rng(3)
        labels = rng.integers(0, 3, 8)
        features = rng.normal(size=(8, 3)).astype("float32")
        loss = TripletLoss(margin=2.0, mining="batch_all", distance="squared")
        self.assertAllClose(loss(np.eye(3)[labels], features),
                            _naive(labels, features, 2.0, "batch_all", "squared"), rtol=1e-4)

    def test_config_round_trip(self):
        self.run_serialization_test(TripletLoss(margin=5.0, mining="batch_all",
                                                distance="squared"))
        self.run_keras_file_test(TripletLoss(margin=5.0))

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: mining='hard'"):
            TripletLoss(mining="hard")
        with pytest.raises(ValueError, match="Received: distance='cosine'"):
            TripletLoss(distance="cosine")
        with pytest.raises(ValueError, match="Received: margin=-1.0"):
            TripletLoss(margin=-1.0)
        with pytest.raises(ValueError, match="sample_weight"):
            TripletLoss()(np.array([0, 1]), np.zeros((2, 2), "float32"), sample_weight=[1, 1])
        with pytest.raises(ValueError, match="feature_dim"):
            triplet_loss(np.array([0, 1]), np.zeros((2, 2, 2), "float32"))
