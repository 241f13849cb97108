"""MobileNet (v1) in the backbone table and resizing inside the model (`resize_to_min`,
`input_size`)."""

import keras
import numpy as np
import pytest

from kerasimb.models import MODELS, build_backbone, build_classifier, model_fn
from kerasimb.testing import TestCase


class BackboneResizingTest(TestCase):
    def test_mobilenet_v1_is_available(self):
        self.assertIn("mobilenet", MODELS.names())
        self.assertIn("quadsnet", MODELS.names())
        self.assertIs(MODELS.get("mobilenet").constructor, keras.applications.MobileNet)
        features = build_backbone("MobileNet", (32, 32, 1))
        self.assertEqual(tuple(features.output.shape), (None, 1024))

    def test_default_still_raises_for_small_inputs(self):
        with pytest.raises(ValueError, match="resize_to_min=True"):
            build_backbone("mobilenet", (28, 28, 1))

    def test_resize_to_min_adds_a_resizing_layer(self):
        model = build_classifier("mobilenetv2", (28, 30, 1), num_classes=2, resize_to_min=True)
        backbone = model.layers[1]
        resize = backbone.get_layer("resize")
        self.assertIsInstance(resize, keras.layers.Resizing)
        self.assertEqual(tuple(resize.output.shape), (None, 32, 32, 1))
        x = np.random.default_rng(0).random((2, 28, 30, 1)).astype("float32")
        self.assertEqual(model.predict(x, verbose=0).shape, (2, 2))

    def test_resize_matches_bilinear_resizing(self):
        backbone = build_backbone("mobilenetv2", (28, 28, 1), resize_to_min=True)
        resize = backbone.get_layer("resize")
        x = np.random.default_rng(1).random((1, 28, 28, 1)).astype("float32")
        import tensorflow as tf

        expected = tf.image.resize(x, (32, 32), method="bilinear").numpy()
        self.assertAllClose(resize(x), expected, atol=1e-5)

    def test_input_size_and_no_op_when_large_enough(self):
        backbone = build_backbone("mobilenetv2", (28, 28, 3), input_size=48)
        self.assertEqual(tuple(backbone.get_layer("resize").output.shape), (None, 48, 48, 3))
        plain = build_backbone("mobilenetv2", (32, 32, 1), resize_to_min=True)
        self.assertFalse(any(isinstance(l, keras.layers.Resizing) for l in plain.layers))
        with pytest.raises(ValueError, match="input_size"):
            build_backbone("mobilenetv2", (28, 28, 1), input_size=16)

    def test_model_fn_passes_resizing(self):
        make = model_fn("mobilenet", resize_to_min=True)
        self.assertEqual(make((28, 28, 1), 3).output.shape[-1], 3)
