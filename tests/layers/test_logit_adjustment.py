import keras
import numpy as np
import pytest

from kerasimb.layers import LogitAdjustment
from kerasimb.testing import TestCase


class LogitAdjustmentTest(TestCase):
    def test_subtracts_tau_log_prior(self):
        counts = [80, 15, 5]
        logits = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
        prior = np.array(counts) / 100.0
        for tau in (0.0, 1.0, 1.5):
            out = LogitAdjustment(counts, tau=tau)(logits)
            self.assertAllClose(out, logits - tau * np.log(prior), rtol=1e-6, atol=1e-6)

    def test_moves_uncertain_predictions_to_rare_class(self):
        layer = LogitAdjustment([90, 10])
        out = keras.ops.convert_to_numpy(layer(np.array([[1.0, 0.0]], np.float32)))
        self.assertEqual(int(np.argmax(out)), 1)  # 1 - log 0.9 < 0 - log 0.1

    def test_float16_input_gives_float32(self):
        out = LogitAdjustment([3, 1])(np.array([[6e4, -6e4]], np.float16))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float32")
        self.assertTrue(np.all(np.isfinite(keras.ops.convert_to_numpy(out))))

    def test_config_round_trip(self):
        layer = LogitAdjustment([10, 5, 2, 1], tau=0.5)
        self.run_serialization_test(layer)
        self.run_keras_file_test(layer, input_shape=(4,))

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: tau=-1.0"):
            LogitAdjustment([3, 1], tau=-1.0)
        with pytest.raises(ValueError, match="Expected 2 logits"):
            LogitAdjustment([3, 1])(np.zeros((1, 3), np.float32))
