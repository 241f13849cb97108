import keras
import numpy as np
import pytest

from kerasimb.layers import QuadSNetBlock
from kerasimb.testing import TestCase


class QuadSNetBlockTest(TestCase):
    def test_shapes_and_parameters_of_each_kind(self):
        x = np.random.default_rng(0).random((2, 20, 20, 3)).astype("float32")
        for kernel, separable in ((3, False), (5, False), (3, True), (5, True)):
            block = QuadSNetBlock(6, kernel, separable=separable)
            self.assertEqual(tuple(block(x).shape), (2, 10, 10, 6))
            conv = kernel * kernel * 3 + 3 * 6 + 6 if separable else kernel * kernel * 3 * 6 + 6
            trainable = int(sum(np.prod(w.shape) for w in block.trainable_weights))
            self.assertEqual(trainable, conv + 2 * 6)
            self.assertEqual(block.bn.momentum, 0.99)
            self.assertEqual(block.bn.epsilon, 1e-4)
            self.assertEqual(block.drop.rate, 0.3)
        valid = QuadSNetBlock(4, 5, padding="valid")
        self.assertEqual(tuple(valid(x).shape), (2, 8, 8, 4))

    def test_inference_matches_numpy(self):
        # conv (1x1 kernel, identity) -> relu -> BN with fresh statistics -> 2x2 max-pool.
        block = QuadSNetBlock(1, 1, dropout=0.5)
        x = np.array([[1.0, -2.0], [3.0, 0.5]], "float32").reshape(1, 2, 2, 1)
        block.build(x.shape)
        block.conv.kernel.assign(np.ones((1, 1, 1, 1), "float32"))
        y = block(x, training=False)
        expected = np.maximum(x, 0).max() / np.sqrt(1 + 1e-4)
        self.assertAllClose(np.asarray(y).ravel(), [expected], atol=1e-6)
        after = QuadSNetBlock(1, 1, activation_after_bn=True, activation="tanh")
        after.build(x.shape)
        after.conv.kernel.assign(np.ones((1, 1, 1, 1), "float32"))
        self.assertAllClose(np.asarray(after(x, training=False)).ravel(),
                            [np.tanh(3.0 / np.sqrt(1 + 1e-4))], atol=1e-6)

    def test_config_and_keras_file(self):
        block = QuadSNetBlock(4, 3, separable=True, activation="elu", seed=3)
        self.run_serialization_test(block)
        self.run_keras_file_test(block, input_shape=(8, 8, 2))

    def test_errors(self):
        with pytest.raises(ValueError, match="filters"):
            QuadSNetBlock(0, 3)
        with pytest.raises(ValueError, match="padding"):
            QuadSNetBlock(4, 3, padding="causal")
        with pytest.raises(TypeError, match="activation"):
            QuadSNetBlock(4, 3, activation=keras.activations.relu)
        with pytest.raises(ValueError, match="Expected images"):
            QuadSNetBlock(4, 3)(np.zeros((2, 8), "float32"))
