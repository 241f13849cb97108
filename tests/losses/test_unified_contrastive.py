import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasimb.losses import UnifiedContrastiveLoss, unified_contrastive_loss
from kerasimb.testing import TestCase


def naive_unified(labels, features, logits, class_counts, alpha, beta, temperature,
                  base_temperature):
    """The formula, written independently with explicit loops over anchors and candidates.

    features (B, V, d) (normalised here), logits (V*B, C) view-major.
    """
    labels = list(labels)
    b, v, _ = features.shape
    c = logits.shape[1]
    anchors = []  # (label, unit feature, logit row), view-major
    for view in range(v):
        for i in range(b):
            f = features[i, view] / np.linalg.norm(features[i, view])
            anchors.append((labels[i], f, logits[view * b + i]))
    prior = None
    if class_counts is not None:
        total = float(sum(class_counts))
        prior = [math.log(n / total) for n in class_counts]
    losses = []
    for i, (yi, fi, gi) in enumerate(anchors):
        adjusted = [gi[k] + (prior[k] if prior else 0.0) for k in range(c)]
        denominator = 0.0
        for k in range(c):
            denominator += math.exp(adjusted[k])
        for j, (_, fj, _) in enumerate(anchors):
            if j != i:
                denominator += math.exp(float(np.dot(fi, fj)) / temperature)
        numerator, weight = 0.0, 0.0
        if beta > 0:
            numerator += beta * (adjusted[yi] - math.log(denominator))
            weight += beta
        for j, (yj, fj, _) in enumerate(anchors):
            if j != i and yj == yi and alpha > 0:
                numerator += alpha * (float(np.dot(fi, fj)) / temperature - math.log(denominator))
                weight += alpha
        if weight > 0:
            losses.append(-(temperature / base_temperature) * numerator / weight)
    return float(np.mean(losses)) if losses else 0.0


def random_case(seed, b=6, c=4, d=5, labels=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, b) if labels is None else np.asarray(labels)
    features = rng.normal(size=(len(labels), 2, d))
    features /= np.linalg.norm(features, axis=-1, keepdims=True)
    logits = rng.normal(size=(2 * len(labels), c)) * 2.0
    return labels, features, logits


class UnifiedContrastiveLossTest(TestCase):
    def test_matches_naive_loops(self):
        counts = [50, 20, 5, 2]
        for seed, (alpha, beta, t, tb) in enumerate([(1.0, 1.0, 0.1, 0.07), (0.3, 1.0, 0.5, 0.07),
                                                     (0.01, 0.5, 0.2, 0.2), (2.0, 0.0, 1.0, 1.0)]):
            labels, features, logits = random_case(seed)
            got = unified_contrastive_loss(labels, features.astype("float32"),
                                           logits.astype("float32"), counts, alpha, beta, t, tb)
            want = naive_unified(labels, features, logits, counts, alpha, beta, t, tb)
            self.assertAllClose(got, want, rtol=1e-4, atol=1e-5)

    def test_class_absent_from_batch_and_singletons(self):
        # Class 3 never appears; classes 1 and 2 appear once (their only feature positive is
        # the anchor's other view).
        labels, features, logits = random_case(7, labels=[0, 0, 1, 2, 0])
        counts = [30, 10, 4, 1]
        got = unified_contrastive_loss(labels, features.astype("float32"),
                                       logits.astype("float32"), counts, 0.7)
        self.assertTrue(np.isfinite(float(got)))
        self.assertAllClose(got, naive_unified(labels, features, logits, counts, 0.7, 1.0, 0.1,
                                               0.07), rtol=1e-4)

    def test_only_positive_is_other_view(self):
        # Every sample of its own class, no class term (beta = 0): each anchor's loss is
        # -log(exp(s_pair) / D) with D over class logits and the 2B - 1 other views.
        labels, features, logits = random_case(8, b=3, c=3, labels=[0, 1, 2])
        t = 0.5
        flat = np.concatenate([features[:, 0], features[:, 1]])
        expected = []
        for i in range(6):
            pair = (i + 3) % 6
            others = [j for j in range(6) if j != i]
            d = np.exp(logits[i]).sum() + sum(np.exp(flat[i] @ flat[j] / t) for j in others)
            expected.append(-(flat[i] @ flat[pair] / t - np.log(d)))
        got = unified_contrastive_loss(labels, features.astype("float32"),
                                       logits.astype("float32"), None, 1.0, 0.0, t, t)
        self.assertAllClose(got, np.mean(expected), rtol=1e-5)

    def test_alpha_zero_is_logit_adjusted_ce_with_batch_in_denominator(self):
        labels, features, logits = random_case(9)
        counts = [40, 12, 6, 3]
        t, tb = 0.1, 0.07
        log_prior = np.log(np.asarray(counts) / sum(counts))
        flat = np.concatenate([features[:, 0], features[:, 1]])
        y = np.concatenate([labels, labels])
        adjusted = logits + log_prior
        sims = flat @ flat.T / t
        per_anchor = []
        for i in range(len(y)):
            candidates = np.concatenate([adjusted[i], np.delete(sims[i], i)])
            lse = np.log(np.exp(candidates - candidates.max()).sum()) + candidates.max()
            per_anchor.append(lse - adjusted[i, y[i]])
        expected = t / tb * np.mean(per_anchor)
        for beta in (1.0, 0.3):  # beta cancels in the normalisation
            got = unified_contrastive_loss(labels, features.astype("float32"),
                                           logits.astype("float32"), counts, 0.0, beta, t, tb)
            self.assertAllClose(got, expected, rtol=1e-5)
        # ... and it is strictly above the plain logit-adjusted cross-entropy.
        plain = t / tb * np.mean([np.log(np.exp(adjusted[i]).sum()) - adjusted[i, y[i]]
                                  for i in range(len(y))])
        self.assertGreater(float(expected), plain)

    def test_hand_made_value(self):
        features = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], "float32")
        got = unified_contrastive_loss([0, 1], features, np.zeros((4, 2), "float32"), None,
                                       0.0, temperature=1.0, base_temperature=1.0)
        self.assertAllClose(got, np.log(4.0 + np.e), rtol=1e-6)

    def test_one_hot_labels_and_unnormalised_features(self):
        labels, features, logits = random_case(10)
        scaled = features * np.array([3.0, 0.5])[None, :, None]
        got = unified_contrastive_loss(keras.utils.to_categorical(labels, 4),
                                       scaled.astype("float32"), logits.astype("float32"),
                                       [5, 4, 3, 2], 0.5)
        want = naive_unified(labels, features, logits, [5, 4, 3, 2], 0.5, 1.0, 0.1, 0.07)
        self.assertAllClose(got, want, rtol=1e-4)

    def test_zero_weights_give_zero(self):
        labels, features, logits = random_case(11)
        self.assertEqual(float(unified_contrastive_loss(
            labels, features.astype("float32"), logits.astype("float32"), None, 0.0, 0.0)), 0.0)

    def test_gradients_finite(self):
        labels, features, logits = random_case(12, labels=[0, 1, 1, 2])
        f = tf.Variable(features.astype("float32"))
        g = tf.Variable(logits[:, :3].astype("float32"))
        with tf.GradientTape() as tape:
            loss = unified_contrastive_loss(labels, f, g, [9, 3, 1], 1.0)
        grads = tape.gradient(loss, [f, g])
        for grad in grads:
            self.assertTrue(np.all(np.isfinite(grad.numpy())))
            self.assertGreater(float(np.abs(grad.numpy()).sum()), 0.0)

    def test_class_alpha_variable_changes_without_retracing(self):
        labels, features, logits = random_case(13)
        loss = UnifiedContrastiveLoss([5, 4, 3, 2], alpha=1.0)
        traces = []

        @tf.function
        def step(f, g):
            traces.append(1)
            return loss(labels, (f, g))

        f, g = tf.constant(features, tf.float32), tf.constant(logits, tf.float32)
        first = float(step(f, g))
        loss.set_alpha(0.0)
        second = float(step(f, g))
        self.assertEqual(len(traces), 1)
        self.assertAllClose(first, naive_unified(labels, features, logits, [5, 4, 3, 2], 1.0,
                                                 1.0, 0.1, 0.07), rtol=1e-4)
        self.assertAllClose(second, naive_unified(labels, features, logits, [5, 4, 3, 2], 0.0,
                                                  1.0, 0.1, 0.07), rtol=1e-4)
        self.assertEqual(loss.alpha, 0.0)
        loss.set_beta(0.5)
        self.assertEqual(loss.beta, 0.5)

    def test_config_round_trip_keeps_initial_values(self):
        loss = UnifiedContrastiveLoss([5, 2], alpha=0.3, beta=0.8, temperature=0.2)
        loss.set_alpha(0.1)
        config = loss.get_config()
        self.assertEqual(config["alpha"], 0.3)
        clone = UnifiedContrastiveLoss.from_config(config)
        self.assertAllClose([clone.alpha, clone.beta], [0.3, 0.8])  # float32 variables
        self.assertEqual((clone.temperature, clone.class_counts), (0.2, [5, 2]))
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
        self.assertIsInstance(restored, UnifiedContrastiveLoss)

    def test_errors(self):
        labels, features, logits = random_case(14)
        f, g = features.astype("float32"), logits.astype("float32")
        with pytest.raises(ValueError, match="Expected views \\* batch = 12 rows"):
            unified_contrastive_loss(labels, f, g[:6], None, 1.0)
        with pytest.raises(ValueError, match="argument `features`"):
            unified_contrastive_loss(labels, f[:, 0], g, None, 1.0)
        with pytest.raises(ValueError, match="argument `class_counts`"):
            unified_contrastive_loss(labels, f, g, [3, 2], 1.0)
        with pytest.raises(ValueError, match="argument `alpha`"):
            unified_contrastive_loss(labels, f, g, None, -1.0)
        with pytest.raises(ValueError, match="argument `temperature`"):
            UnifiedContrastiveLoss(temperature=0.0)
        with pytest.raises(ValueError, match="argument `sample_weight`"):
            UnifiedContrastiveLoss()(labels, (f, g), sample_weight=np.ones(6))
        with pytest.raises(ValueError, match="argument `y_pred`"):
            UnifiedContrastiveLoss()(labels, f)
