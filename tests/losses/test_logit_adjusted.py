import numpy as np
import pytest
import scipy.special

from loss_references import logit_adjusted
from kerasimb.losses import LogitAdjustedLoss, logit_adjusted_loss
from kerasimb.testing import TestCase

RNG = np.random.default_rng(3)
COUNTS = [300, 90, 9, 1]
LOGITS = RNG.normal(size=(12, 4)) * 2
LABELS = RNG.integers(0, 4, size=12)


class LogitAdjustedLossTest(TestCase):
    def test_random_inputs_match_reference(self):
        for tau in (0.0, 0.5, 1.0, 2.0):
            self.assertAllClose(
                logit_adjusted_loss(LABELS, LOGITS, COUNTS, tau),
                logit_adjusted(LABELS, LOGITS, COUNTS, tau),
                rtol=1e-5,
            )

    def test_tau_one_is_balanced_softmax(self):
        # Ren et al.: p_y = n_y e^{z_y} / sum_j n_j e^{z_j}.
        n = np.array(COUNTS, dtype=np.float64)
        weighted = n * np.exp(LOGITS)
        expected = -np.log(weighted[np.arange(12), LABELS] / weighted.sum(axis=1))
        self.assertAllClose(logit_adjusted_loss(LABELS, LOGITS, COUNTS, 1.0), expected, rtol=1e-5)

    def test_tau_zero_is_cross_entropy(self):
        expected = -np.log(scipy.special.softmax(LOGITS, axis=-1)[np.arange(12), LABELS])
        self.assertAllClose(logit_adjusted_loss(LABELS, LOGITS, COUNTS, 0.0), expected, rtol=1e-5)

    def test_missing_class_single_class_and_soft_labels(self):
        soft = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8]])
        for y in (np.array([0, 1, 0]), np.array([3, 3]), soft):
            z = LOGITS[: len(y)]
            self.assertAllClose(
                logit_adjusted_loss(y, z, COUNTS, 1.0), logit_adjusted(y, z, COUNTS, 1.0), rtol=1e-5
            )

    def test_class_mean(self):
        loss = LogitAdjustedLoss(COUNTS, tau=0.7)
        self.assertAllClose(loss(np.eye(4)[LABELS], LOGITS), logit_adjusted(LABELS, LOGITS, COUNTS, 0.7).mean(), rtol=1e-5)

    def test_config_round_trip(self):
        loss = LogitAdjustedLoss([10, 5, 2], tau=1.5)
        self.run_serialization_test(loss)
        self.run_keras_file_test(loss)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: tau=-1.0"):
            LogitAdjustedLoss(COUNTS, tau=-1.0)
        with pytest.raises(ValueError, match="Expected 4 entries"):
            logit_adjusted_loss(LABELS, LOGITS, [1, 2])
