import numpy as np
import pytest

from loss_references import ldam, ldam_margins as reference_margins
from kerasimb.losses import LDAMLoss, ldam_loss, ldam_margins
from kerasimb.testing import TestCase

RNG = np.random.default_rng(2)
COUNTS = [500, 100, 20, 4]
COSINES = np.tanh(RNG.normal(size=(12, 4)))  # in [-1, 1], like a cosine classifier
LABELS = RNG.integers(0, 4, size=12)


class LDAMLossTest(TestCase):
    def test_margins(self):
        self.assertAllClose(ldam_margins(COUNTS, 0.5), reference_margins(COUNTS, 0.5), rtol=1e-10)
        margins = ldam_margins(COUNTS, 0.3)
        self.assertAlmostEqual(max(margins), 0.3)
        # Delta_j * n_j^(1/4) is the same constant for every class.
        self.assertAllClose(np.array(margins) * np.array(COUNTS) ** 0.25, [0.3 * 4**0.25] * 4, rtol=1e-10)

    def test_random_inputs_match_reference(self):
        for max_margin, scale in ((0.5, 30.0), (0.2, 1.0), (1.0, 10.0)):
            self.assertAllClose(
                ldam_loss(LABELS, COSINES, COUNTS, max_margin, scale),
                ldam(LABELS, COSINES, COUNTS, max_margin, scale),
                rtol=1e-5,
            )

    def test_margin_only_on_target_logit(self):
        # Hand-made: two classes, zero logits; only the true class loses Delta_y.
        d = reference_margins([16, 1], 0.5)  # [0.25, 0.5]
        expected = [np.log(1 + np.exp(2 * d[0])), np.log(1 + np.exp(2 * d[1]))]
        self.assertAllClose(ldam_loss([0, 1], np.zeros((2, 2)), [16, 1], 0.5, 2.0), expected, rtol=1e-6)

    def test_weights_missing_class_single_class_and_soft_labels(self):
        weights = [0.1, 0.5, 1.2, 2.2]
        no_rare = np.array([0, 1, 1, 2])
        one_class = np.array([3, 3, 3])
        soft = np.array([[0.6, 0.4, 0.0, 0.0], [0.0, 0.1, 0.0, 0.9], [0.25] * 4])
        for y in (no_rare, one_class, soft, LABELS):
            z = COSINES[: len(y)]
            self.assertAllClose(ldam_loss(y, z, COUNTS, class_weights=weights), ldam(y, z, COUNTS, 0.5, 30.0, weights), rtol=1e-5)
            self.assertAllClose(
                LDAMLoss(COUNTS, class_weights=weights)(y, z),
                ldam(y, z, COUNTS, 0.5, 30.0, weights).mean(),
                rtol=1e-5,
            )

    def test_set_class_weights(self):
        loss = LDAMLoss(COUNTS, scale=5.0)
        self.assertIsNone(loss.class_weights)
        before = float(loss(LABELS, COSINES))
        self.assertAllClose(before, ldam(LABELS, COSINES, COUNTS, 0.5, 5.0).mean(), rtol=1e-5)
        loss.set_class_weights([0.1, 0.2, 1.0, 2.7])
        self.assertAllClose(loss.class_weights, [0.1, 0.2, 1.0, 2.7])
        self.assertAllClose(
            loss(LABELS, COSINES), ldam(LABELS, COSINES, COUNTS, 0.5, 5.0, [0.1, 0.2, 1.0, 2.7]).mean(), rtol=1e-5
        )
        loss.set_class_weights(None)
        self.assertAllClose(loss(LABELS, COSINES), before, rtol=1e-6)

    def test_config_round_trip_keeps_current_weights(self):
        self.run_serialization_test(LDAMLoss([10, 5, 2]))
        loss = LDAMLoss([10, 5, 2], max_margin=0.3, scale=10.0, class_weights=[1.0, 1.0, 1.0])
        loss.set_class_weights([0.5, 1.0, 1.5])
        revived = self.run_serialization_test(loss)
        self.assertEqual(revived.class_weights, [0.5, 1.0, 1.5])
        self.run_keras_file_test(loss)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: max_margin=0.0"):
            LDAMLoss(COUNTS, max_margin=0.0)
        with pytest.raises(ValueError, match="Received: scale=-1.0"):
            LDAMLoss(COUNTS, scale=-1.0)
        with pytest.raises(ValueError, match="Expected 4 entries"):
            LDAMLoss(COUNTS, class_weights=[1.0, 2.0])
        with pytest.raises(ValueError, match="argument `weights`"):
            LDAMLoss(COUNTS).set_class_weights([1.0, -1.0, 1.0, 1.0])
        with pytest.raises(ValueError, match="Expected 4 entries"):
            ldam_loss(LABELS, COSINES, [3, 2, 1])
