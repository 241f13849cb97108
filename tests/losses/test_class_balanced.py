import numpy as np
import pytest
import scipy.special

from loss_references import class_balanced, effective_weights
from kerasimb.losses import ClassBalancedLoss, class_balanced_loss, class_weights
from kerasimb.testing import TestCase

RNG = np.random.default_rng(1)
COUNTS = [200, 60, 15, 3]
LOGITS = RNG.normal(size=(12, 4)) * 3
LABELS = RNG.integers(0, 4, size=12)


class ClassBalancedLossTest(TestCase):
    def test_every_form_matches_reference(self):
        for loss_type in ("softmax", "sigmoid", "focal"):
            for beta, gamma in ((0.9999, 2.0), (0.99, 0.5), (0.0, 1.0)):
                self.assertAllClose(
                    class_balanced_loss(LABELS, LOGITS, COUNTS, beta, loss_type, gamma),
                    class_balanced(LABELS, LOGITS, COUNTS, beta, loss_type, gamma),
                    rtol=1e-5,
                    msg=f"{loss_type} beta={beta} gamma={gamma}",
                )

    def test_weights_are_cui_effective_number(self):
        self.assertAllClose(ClassBalancedLoss(COUNTS, beta=0.99).class_weights, effective_weights(COUNTS, 0.99))
        self.assertAllClose(class_weights(COUNTS, "effective", 0.99), effective_weights(COUNTS, 0.99))

    def test_beta_zero_softmax_is_cross_entropy(self):
        expected = -np.log(scipy.special.softmax(LOGITS, axis=-1)[np.arange(12), LABELS])
        self.assertAllClose(class_balanced_loss(LABELS, LOGITS, COUNTS, 0.0, "softmax"), expected, rtol=1e-5)

    def test_focal_gamma_zero_is_sigmoid(self):
        self.assertAllClose(
            class_balanced_loss(LABELS, LOGITS, COUNTS, 0.9, "focal", gamma=0.0),
            class_balanced_loss(LABELS, LOGITS, COUNTS, 0.9, "sigmoid"),
            rtol=1e-6,
        )

    def test_stable_modulator_equals_one_minus_p_t_power(self):
        # exp(-g y x - g log(1 + e^-x)) == (1 - p_t)^g for hard labels (the paper's identity).
        x = np.linspace(-30, 30, 13)
        g = 2.0
        for y in (0.0, 1.0):
            one_minus_p_t = scipy.special.expit(-x) if y == 1.0 else scipy.special.expit(x)
            stable = np.exp(-g * y * x - g * np.log1p(np.exp(-x)))
            self.assertAllClose(stable, one_minus_p_t**g, rtol=1e-9, atol=1e-300)
            one_hot = np.stack([np.full_like(x, y), np.full_like(x, 1 - y)], axis=1)
            logits = np.stack([x, np.zeros_like(x)], axis=1)
            self.assertAllClose(
                class_balanced_loss(one_hot, logits, [1, 1], 0.0, "focal", g),
                class_balanced(one_hot, logits, [1, 1], 0.0, "focal", g),
                rtol=1e-5,
                atol=1e-12,
            )

    def test_hand_made_missing_class_single_class_and_soft_labels(self):
        no_rare = np.array([0, 1, 0, 2])  # class 3 never in the batch
        one_class = np.array([3, 3, 3])
        soft = np.array([[0.7, 0.3, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], [0.25] * 4])
        for loss_type in ("softmax", "sigmoid", "focal"):
            for y in (no_rare, one_class, soft):
                z = LOGITS[: len(y)]
                self.assertAllClose(
                    class_balanced_loss(y, z, COUNTS, 0.999, loss_type, 1.0),
                    class_balanced(y, z, COUNTS, 0.999, loss_type, 1.0),
                    rtol=1e-5,
                )

    def test_probabilities_input(self):
        probs = scipy.special.softmax(LOGITS, axis=-1)
        self.assertAllClose(
            class_balanced_loss(LABELS, probs, COUNTS, 0.99, "softmax", from_logits=False),
            class_balanced(LABELS, LOGITS, COUNTS, 0.99, "softmax", 2.0),
            rtol=1e-4,
        )
        sig = scipy.special.expit(LOGITS)
        self.assertAllClose(
            class_balanced_loss(LABELS, sig, COUNTS, 0.99, "sigmoid", from_logits=False),
            class_balanced(LABELS, LOGITS, COUNTS, 0.99, "sigmoid", 2.0),
            rtol=1e-4,
        )

    def test_rare_class_weighs_more(self):
        loss = ClassBalancedLoss(COUNTS, beta=0.999, loss_type="softmax")
        z = np.zeros((1, 4))
        self.assertGreater(float(loss([3], z)), float(loss([0], z)))

    def test_config_round_trip(self):
        for loss_type in ("softmax", "sigmoid", "focal"):
            loss = ClassBalancedLoss([10, 5, 2], beta=0.99, loss_type=loss_type, gamma=0.5)
            self.run_serialization_test(loss)
            self.run_keras_file_test(loss)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: beta=1.0"):
            ClassBalancedLoss(COUNTS, beta=1.0)
        with pytest.raises(ValueError, match="Received: loss_type='hinge'"):
            ClassBalancedLoss(COUNTS, loss_type="hinge")
        with pytest.raises(ValueError, match="Received: gamma=-0.5"):
            ClassBalancedLoss(COUNTS, gamma=-0.5)
        with pytest.raises(ValueError, match="no examples for classes"):
            ClassBalancedLoss([3, 0, 1])
        with pytest.raises(ValueError, match="Expected 4 entries"):
            class_balanced_loss(LABELS, LOGITS, [5, 4, 3])
