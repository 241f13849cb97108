import numpy as np
import pytest
import scipy.special

from loss_references import focal
from kerasimb.losses import FocalLoss, focal_loss
from kerasimb.testing import TestCase

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(16, 5)) * 3
LABELS = RNG.integers(0, 5, size=16)


class FocalLossTest(TestCase):
    def test_random_inputs_match_reference(self):
        for gamma in (0.0, 0.5, 2.0, 5.0):
            self.assertAllClose(
                focal_loss(LABELS, LOGITS, gamma=gamma), focal(LABELS, LOGITS, gamma), rtol=1e-5
            )

    def test_gamma_zero_is_cross_entropy(self):
        expected = -np.log(scipy.special.softmax(LOGITS, axis=-1)[np.arange(16), LABELS])
        self.assertAllClose(focal_loss(LABELS, LOGITS, gamma=0.0), expected, rtol=1e-5)

    def test_hand_made_value(self):
        # p_t = e / (e + 1) for logits [1, 0] and label 0.
        p = np.e / (np.e + 1)
        expected = -0.25 * (1 - p) ** 2 * np.log(p)
        self.assertAllClose(focal_loss([0], [[1.0, 0.0]], gamma=2.0, alpha=0.25), [expected])

    def test_per_class_alpha(self):
        alpha = [0.1, 0.2, 0.3, 0.4, 5.0]
        self.assertAllClose(
            focal_loss(LABELS, LOGITS, gamma=1.0, alpha=alpha),
            focal(LABELS, LOGITS, 1.0, alpha),
            rtol=1e-5,
        )

    def test_label_formats_agree(self):
        one_hot = np.eye(5)[LABELS]
        a = focal_loss(LABELS, LOGITS)
        self.assertAllClose(focal_loss(LABELS[:, None], LOGITS), a, rtol=1e-6)
        self.assertAllClose(focal_loss(one_hot, LOGITS), a, rtol=1e-6)
        self.assertAllClose(focal_loss(LABELS.astype("float32"), LOGITS), a, rtol=1e-6)

    def test_soft_labels_class_missing_and_single_class_batch(self):
        soft = RNG.dirichlet(np.ones(5), size=8)
        soft[:, 4] = 0.0  # class 4 never appears
        soft /= soft.sum(axis=1, keepdims=True)
        self.assertAllClose(focal_loss(soft, LOGITS[:8], gamma=1.5), focal(soft, LOGITS[:8], 1.5), rtol=1e-5)
        same = np.full(8, 3)
        self.assertAllClose(focal_loss(same, LOGITS[:8]), focal(same, LOGITS[:8], 2.0), rtol=1e-5)

    def test_probabilities_input(self):
        probs = scipy.special.softmax(LOGITS, axis=-1)
        self.assertAllClose(
            focal_loss(LABELS, probs, from_logits=False), focal(LABELS, LOGITS, 2.0), rtol=1e-4
        )

    def test_class_reduces_by_mean(self):
        loss = FocalLoss(gamma=1.0, alpha=[1, 2, 3, 4, 5])
        self.assertAllClose(loss(LABELS, LOGITS), focal(LABELS, LOGITS, 1.0, [1, 2, 3, 4, 5]).mean(), rtol=1e-5)

    def test_focal_down_weights_easy_examples(self):
        easy, hard = focal_loss([0, 0], [[4.0, 0.0], [0.0, 0.0]], gamma=2.0)
        ce_easy, ce_hard = focal_loss([0, 0], [[4.0, 0.0], [0.0, 0.0]], gamma=0.0)
        self.assertLess(float(easy) / float(ce_easy), float(hard) / float(ce_hard))

    def test_config_round_trip(self):
        for loss in (FocalLoss(), FocalLoss(gamma=1.5, alpha=0.25), FocalLoss(alpha=[1.0, 2.0, 3.0])):
            self.run_serialization_test(loss)
            self.run_keras_file_test(loss)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: gamma=-1"):
            FocalLoss(gamma=-1)
        with pytest.raises(ValueError, match="argument `alpha`"):
            FocalLoss(alpha=[1.0, -2.0])
        with pytest.raises(ValueError, match="Expected 5 entries"):
            focal_loss(LABELS, LOGITS, alpha=[1.0, 2.0])
        with pytest.raises(ValueError, match="argument `y_true`"):
            focal_loss(np.zeros((16, 3)), LOGITS)
        with pytest.raises(ValueError, match="Expected integer labels in \\[0, 4\\]. Received: label 5"):
            focal_loss([0, 5], LOGITS[:2])
        with pytest.raises(ValueError, match="argument `y_pred`"):
            focal_loss(LABELS, LOGITS[:, :, None])
