import keras
import numpy as np
import pytest

from kerasimb.layers import ProjectionHead
from kerasimb.testing import TestCase


class ProjectionHeadTest(TestCase):
    def test_three_dense_layers_and_unit_norm(self):
        head = ProjectionHead(hidden_dim=16, output_dim=8)
        x = np.random.default_rng(0).normal(size=(5, 12)).astype("float32")
        out = np.asarray(head(x))
        self.assertEqual(out.shape, (5, 8))
        self.assertAllClose(np.linalg.norm(out, axis=1), np.ones(5), atol=1e-5)
        self.assertEqual(len(head.dense_layers), 3)
        # Independent forward pass in numpy: Dense-ReLU-Dense-ReLU-Dense, then L2 normalise.
        h = x
        for i, layer in enumerate(head.dense_layers):
            kernel, bias = (np.asarray(w) for w in layer.weights)
            h = h @ kernel + bias
            if i < 2:
                h = np.maximum(h, 0.0)
        self.assertAllClose(out, h / np.linalg.norm(h, axis=1, keepdims=True), atol=1e-5)

    def test_without_normalisation(self):
        head = ProjectionHead(hidden_dim=4, output_dim=3, num_layers=1, normalize=False)
        x = np.ones((2, 6), "float32")
        kernel, bias = (np.asarray(w) for w in (head(x), *head.weights)[1:])
        self.assertAllClose(head(x), x @ kernel + bias, atol=1e-6)

    def test_float32_output_under_mixed_precision(self):
        head = ProjectionHead(hidden_dim=4, output_dim=3, dtype="mixed_bfloat16")
        self.assertEqual(str(head(np.ones((2, 6), "float32")).dtype), "<dtype: 'float32'>")

    def test_config_and_keras_file(self):
        head = ProjectionHead(hidden_dim=8, output_dim=4, num_layers=2, normalize=False)
        self.run_serialization_test(head)
        loaded = self.run_keras_file_test(head, input_shape=(6,))
        x = np.ones((1, 6), "float32")
        self.assertAllClose(loaded(x), head(x), atol=1e-6)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: output_dim=0"):
            ProjectionHead(output_dim=0)
        with pytest.raises(TypeError, match="num_layers"):
            ProjectionHead(num_layers=1.5)
