import keras
import numpy as np
import pytest

from kerasimb.layers import CosineClassifier
from kerasimb.testing import TestCase


class CosineClassifierTest(TestCase):
    def test_outputs_scaled_cosines(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(5, 7)).astype(np.float32)
        layer = CosineClassifier(3, scale=4.0)
        out = keras.ops.convert_to_numpy(layer(x))
        w = keras.ops.convert_to_numpy(layer.kernel)
        expected = np.array(
            [[4.0 * x[i] @ w[:, j] / (np.linalg.norm(x[i]) * np.linalg.norm(w[:, j])) for j in range(3)] for i in range(5)]
        )
        self.assertAllClose(out, expected, rtol=1e-5, atol=1e-6)
        self.assertTrue(np.all(np.abs(out) <= 4.0 + 1e-5))

    def test_invariant_to_feature_and_weight_scale(self):
        layer = CosineClassifier(2)
        x = np.array([[1.0, 2.0, 3.0]], np.float32)
        a = layer(x)
        self.assertAllClose(layer(100.0 * x), a, rtol=1e-5)
        layer.kernel.assign(layer.kernel * 7.0)
        self.assertAllClose(layer(x), a, rtol=1e-5)

    def test_zero_features_give_zero_not_nan(self):
        out = CosineClassifier(3)(np.zeros((2, 4), np.float32))
        self.assertAllClose(out, np.zeros((2, 3)))

    def test_float16_dtype_and_training(self):
        layer = CosineClassifier(3, dtype="mixed_float16")
        out = layer(np.ones((2, 4), np.float32) * 1e-3)
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float16")
        self.assertTrue(np.all(np.isfinite(keras.ops.convert_to_numpy(out))))
        model = keras.Sequential([keras.Input((4,)), CosineClassifier(3, scale=10.0)])
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = np.random.default_rng(1).normal(size=(60, 4)).astype(np.float32)
        y = np.argmax(x[:, :3], axis=1)
        loss = model.fit(x, y, epochs=10, verbose=0).history["loss"]
        self.assertLess(loss[-1], loss[0])

    def test_config_round_trip(self):
        layer = CosineClassifier(3, scale=2.0, name="cos")
        self.run_serialization_test(layer)
        self.run_keras_file_test(layer)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: units=0"):
            CosineClassifier(0)
        with pytest.raises(ValueError, match="Received: scale=0.0"):
            CosineClassifier(2, scale=0.0)
