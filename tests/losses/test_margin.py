"""MarginLoss against a numpy re-derivation of the formula, for every label form and option."""

import keras
import numpy as np
import pytest
from scipy.special import expit, softmax

from kerasimb.losses import MarginLoss, class_weights, margin_loss
from kerasimb.testing import TestCase

LOGITS = np.array([[2.0, -1.0, 0.3], [0.1, 0.2, -3.0], [-0.5, 4.0, 1.0], [0.0, 0.0, 0.0]])
LABELS = np.array([0, 2, 1, 1])


def reference(targets, logits, m_plus=0.9, m_minus=0.1, lam=0.5, weights=None, score="sigmoid",
              mode="example", printed=False):
    """Loops over examples and classes, as the formula is written (`printed`: QuadSNet's Eq. 2
    as printed, max(0, m+ - p^2) + lambda max(0, p^2 - m-))."""
    p = expit(logits) if score == "sigmoid" else softmax(logits, axis=-1)
    out = []
    for i in range(len(logits)):
        total, example_weight = 0.0, 0.0
        for k in range(logits.shape[1]):
            t = targets[i, k]
            if printed:
                term = (t * max(0.0, m_plus - p[i, k] ** 2)
                        + lam * (1 - t) * max(0.0, p[i, k] ** 2 - m_minus))
            else:
                term = (t * max(0.0, m_plus - p[i, k]) ** 2
                        + lam * (1 - t) * max(0.0, p[i, k] - m_minus) ** 2)
            w = 1.0 if weights is None else weights[k]
            total += w * term if mode == "class" else term
            example_weight += t * w
        out.append(total if (weights is None or mode == "class") else example_weight * total)
    return np.array(out)


class MarginLossTest(TestCase):
    def test_int_labels_both_shapes_and_one_hot(self):
        expected = reference(np.eye(3)[LABELS], LOGITS)
        self.assertAllClose(margin_loss(LABELS, LOGITS), expected, atol=1e-6)
        self.assertAllClose(margin_loss(LABELS[:, None], LOGITS), expected, atol=1e-6)
        self.assertAllClose(margin_loss(np.eye(3)[LABELS], LOGITS), expected, atol=1e-6)

    def test_soft_labels(self):
        soft = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5], [0.1, 0.8, 0.1], [1 / 3, 1 / 3, 1 / 3]])
        for mode in ("example", "class"):
            expected = reference(soft, LOGITS, weights=[0.5, 1.0, 2.0], mode=mode)
            got = margin_loss(soft, LOGITS, class_weights=[0.5, 1.0, 2.0], weight_mode=mode)
            self.assertAllClose(got, expected, atol=1e-6)

    def test_softmax_score_and_margins(self):
        expected = reference(np.eye(3)[LABELS], LOGITS, 0.8, 0.2, 1.0, score="softmax")
        got = margin_loss(LABELS, LOGITS, m_plus=0.8, m_minus=0.2, down_weight=1.0, score="softmax")
        self.assertAllClose(got, expected, atol=1e-6)
        self.assertGreater(np.abs(np.asarray(got) - reference(np.eye(3)[LABELS], LOGITS, 0.8, 0.2, 1.0)).max(), 1e-3)

    def test_scores_instead_of_logits(self):
        p = expit(LOGITS)
        self.assertAllClose(margin_loss(LABELS, p, from_logits=False),
                            reference(np.eye(3)[LABELS], LOGITS), atol=1e-6)

    def test_class_counts_give_inverse_frequency_weights(self):
        counts = [60, 30, 10]
        loss = MarginLoss(class_counts=counts)
        w = 1.0 / np.array(counts)
        w = w * 3 / w.sum()
        self.assertAllClose(loss.effective_class_weights, w, atol=1e-9)
        expected = reference(np.eye(3)[LABELS], LOGITS, weights=w).mean()
        self.assertAllClose(loss(LABELS, LOGITS), expected, atol=1e-6)
        sqrt = MarginLoss(class_counts=counts, weighting="sqrt_inverse")
        self.assertEqual(sqrt.effective_class_weights, class_weights(counts, "sqrt_inverse"))

    def test_zero_when_margins_are_met(self):
        logits = np.array([[5.0, -5.0], [-5.0, 5.0]])  # sigmoid 0.993 / 0.0067
        self.assertAllClose(margin_loss(np.array([0, 1]), logits), [0.0, 0.0], atol=1e-12)

    def test_float32_under_low_precision_inputs_and_gradient(self):
        loss = MarginLoss(class_counts=[3, 1])
        logits = keras.ops.convert_to_tensor(LOGITS[:, :2], dtype="float16")
        value = loss(LABELS % 2, logits)
        self.assertEqual(keras.backend.standardize_dtype(value.dtype), "float32")
        import tensorflow as tf

        z = tf.Variable(LOGITS[:, :2].astype("float32"))
        with tf.GradientTape() as tape:
            v = loss(LABELS % 2, z)
        self.assertTrue(np.all(np.isfinite(tape.gradient(v, z).numpy())))

    def test_compiles_in_a_model(self):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        model.compile("adam", MarginLoss(class_counts=[5, 3]))
        x = np.random.default_rng(0).random((8, 4)).astype("float32")
        y = np.eye(2)[np.array([0, 1] * 4)].astype("float32")
        history = model.fit(x, y, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))

    def test_printed_form_is_eq_2_as_printed(self):
        for score in ("sigmoid", "softmax"):
            for mode in ("example", "class"):
                expected = reference(np.eye(3)[LABELS], LOGITS, weights=[0.5, 1.0, 2.0],
                                     score=score, mode=mode, printed=True)
                got = margin_loss(LABELS, LOGITS, class_weights=[0.5, 1.0, 2.0], score=score,
                                  weight_mode=mode, form="printed")
                self.assertAllClose(got, expected, atol=1e-6)
        # the two readings differ (the test above would not notice a swapped form otherwise)
        squared = reference(np.eye(3)[LABELS], LOGITS)
        self.assertGreater(np.abs(np.asarray(margin_loss(LABELS, LOGITS, form="printed"))
                                  - squared).max(), 0.1)
        self.assertAllClose(MarginLoss(form="printed")(LABELS, LOGITS),
                            reference(np.eye(3)[LABELS], LOGITS, printed=True).mean(), atol=1e-6)
        with pytest.raises(ValueError, match="form"):
            MarginLoss(form="sabour")

    def test_config_round_trip(self):
        self.run_serialization_test(MarginLoss(class_counts=[5, 2], score="softmax"))
        self.run_keras_file_test(MarginLoss(class_weights=[1.0, 2.0, 0.5], weight_mode="class"))
        self.run_serialization_test(MarginLoss(form="printed"))

    def test_errors(self):
        with pytest.raises(ValueError, match="at most one of"):
            MarginLoss(class_weights=[1.0, 1.0], class_counts=[1, 2])
        with pytest.raises(ValueError, match="m_plus"):
            MarginLoss(m_plus=1.5)
        with pytest.raises(ValueError, match="down_weight"):
            MarginLoss(down_weight=-1.0)
        with pytest.raises(ValueError, match="score"):
            MarginLoss(score="tanh")
        with pytest.raises(ValueError, match="weight_mode"):
            MarginLoss(weight_mode="batch")
        with pytest.raises(ValueError, match="class_counts"):
            MarginLoss(class_counts=[3, 0])
        with pytest.raises(ValueError, match="class_weights"):
            MarginLoss(class_weights=[1.0, -1.0])
        with pytest.raises(ValueError, match="Expected 3 entries"):
            margin_loss(LABELS, LOGITS, class_weights=[1.0, 2.0])
        with pytest.raises(ValueError, match="y_true"):
            margin_loss(np.zeros((4, 2)), LOGITS)
        with pytest.raises(ValueError, match="y_pred"):
            margin_loss(LABELS, LOGITS[0])
