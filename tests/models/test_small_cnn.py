import keras
import numpy as np
import pytest

from kerasimb.models import SmallCNN
from kerasimb.testing import TestCase


class SmallCNNTest(TestCase):
    def test_output_is_logits_of_the_right_shape(self):
        model = SmallCNN((28, 28, 1), num_classes=10, width=8, depth=3)
        x = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
        logits = model.predict(x, verbose=0)
        self.assertEqual(logits.shape, (5, 10))
        self.assertEqual(logits.dtype, np.float32)
        # Logits, not probabilities: rows do not sum to one and values leave [0, 1].
        self.assertFalse(np.allclose(logits.sum(axis=1), 1.0))

    def test_blocks_follow_width_and_depth(self):
        model = SmallCNN((16, 16, 3), num_classes=4, width=6, depth=2, dropout=0.5)
        convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
        self.assertEqual([c.filters for c in convs], [6, 12])
        self.assertEqual([tuple(c.kernel_size) for c in convs], [(3, 3), (3, 3)])
        pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
        self.assertEqual(len(pools), 2)
        self.assertEqual(len([layer for layer in model.layers
                              if isinstance(layer, keras.layers.BatchNormalization)]), 2)
        self.assertEqual(model.get_layer("head_dropout").rate, 0.5)
        # 16 -> 8 -> 4 after two poolings, then global pooling to 12 features.
        self.assertEqual(tuple(model.get_layer("block2_pool").output.shape), (None, 4, 4, 12))
        self.assertEqual(tuple(model.get_layer("pooler").output.shape), (None, 12))

    def test_last_layer_float32_under_mixed_precision(self):
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("mixed_bfloat16")
        try:
            model = SmallCNN((8, 8, 1), num_classes=3, width=4, depth=2)
            self.assertEqual(model.get_layer("block1_conv").compute_dtype, "bfloat16")
            self.assertEqual(model.get_layer("logits").compute_dtype, "float32")
            out = model(np.zeros((2, 8, 8, 1), "float32"))
            self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float32")
        finally:
            keras.config.set_dtype_policy(previous)

    def test_config_round_trip(self):
        model = SmallCNN((12, 12, 1), num_classes=3, width=4, depth=2, dropout=0.1, name="tiny")
        revived = self.run_serialization_test(model)
        self.assertEqual(revived.name, "tiny")
        self.assertEqual(revived.get_config()["input_shape"], [12, 12, 1])

    def test_keras_file_round_trip_gives_the_same_predictions(self):
        model = SmallCNN((8, 8, 1), num_classes=3, width=4, depth=2)
        loaded = self.run_keras_file_test(model)
        x = np.random.default_rng(1).random((3, 8, 8, 1)).astype("float32")
        self.assertAllClose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)

    def test_learns_a_separable_problem(self):
        rng = np.random.default_rng(0)
        y = np.arange(32) % 2
        x = (rng.random((32, 8, 8, 1)) * 0.2 + 0.7 * y[:, None, None, None]).astype("float32")
        model = SmallCNN((8, 8, 1), num_classes=2, width=4, depth=1, dropout=0.0)
        model.compile(keras.optimizers.Adam(0.05),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=15, batch_size=8, verbose=0)
        predicted = model.predict(x, verbose=0).argmax(axis=1)
        self.assertEqual((predicted == y).mean(), 1.0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"input_shape": (4, 4, 1)}, ValueError, "at least 8 for depth=3"),
        ({"input_shape": (16, 7, 1), "depth": 3}, ValueError, "at least 8"),
        ({"input_shape": (28, 28)}, ValueError, "tuple of 3 integers"),
        ({"input_shape": "28x28"}, TypeError, "Expected a tuple"),
        ({"input_shape": (28, 28, 0)}, ValueError, "input_shape"),
        ({"num_classes": 1}, ValueError, "num_classes=1"),
        ({"num_classes": 2.5}, TypeError, "num_classes"),
        ({"width": 0}, ValueError, "width=0"),
        ({"depth": 0}, ValueError, "depth=0"),
        ({"dropout": 1.0}, ValueError, "dropout=1.0"),
        ({"dropout": -0.1}, ValueError, "dropout=-0.1"),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    arguments = {"input_shape": (28, 28, 1), "num_classes": 3, **kwargs}
    with pytest.raises(error, match=message):
        SmallCNN(**arguments)
