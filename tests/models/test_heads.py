import keras
import numpy as np
import pytest

from kerasimb.layers import CosineClassifier
from kerasimb.models import (
    SmallCNN, build_classifier, feature_extractor, output_shape, replace_head)
from kerasimb.testing import TestCase


class HeadsTest(TestCase):
    def test_small_cnn_features_and_cosine_head(self):
        model = SmallCNN((16, 16, 1), num_classes=3, width=4, depth=2)
        x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
        features = feature_extractor(model)
        self.assertEqual(tuple(features.output.shape), (None, 8))
        # The Dense head on the extracted features reproduces the model's logits.
        dense = model.get_layer("logits")
        self.assertAllClose(dense(features(x)), model(x), rtol=1e-5, atol=1e-6)
        cosine = replace_head(model, CosineClassifier(3, dtype="float32", name="cos"))
        self.assertEqual(cosine.layers[-1].name, "cos")
        self.assertNotIn("logits", [layer.name for layer in cosine.layers])
        out = keras.ops.convert_to_numpy(cosine(x))
        self.assertEqual(out.shape, (2, 3))
        self.assertTrue(np.all(np.abs(out) <= 1.0 + 1e-5))
        # Shared layers: the conv weights are the same objects.
        self.assertIs(cosine.get_layer("block1_conv"), model.get_layer("block1_conv"))

    @pytest.mark.slow
    def test_build_classifier(self):
        model = build_classifier("mobilenetv2", (32, 32, 1), num_classes=4)
        self.assertEqual(tuple(feature_extractor(model).output.shape), (None, 1280))
        self.assertEqual(tuple(replace_head(model, CosineClassifier(4)).output.shape), (None, 4))

    def test_model_with_cosine_head_saves(self):
        model = SmallCNN((16, 16, 1), num_classes=3, width=4, depth=2)
        self.run_keras_file_test(replace_head(model, CosineClassifier(3, name="cos")))

    def test_errors(self):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Softmax()])
        with pytest.raises(ValueError, match="final Dense"):
            feature_extractor(model)
        with pytest.raises(TypeError, match="argument `head`"):
            replace_head(SmallCNN((16, 16, 1), 3, width=4, depth=2), "cosine")
        with pytest.raises(TypeError, match="argument `model`"):
            feature_extractor(keras.layers.Dense(3))


def test_output_shape():
    functional = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    assert output_shape(functional) == (None, 5)
    assert output_shape(SmallCNN((8, 8, 1), 3, width=2, depth=1)) == (None, 3)

    built = keras.Sequential([keras.layers.Dense(5)])  # no Input: no `output`, a shape once built
    assert output_shape(built) is None  # not built: unknown
    built.build((None, 4))
    assert output_shape(built) == (None, 5)

    class Doubler(keras.Model):  # subclassed: no `input_shape` either
        def call(self, x):
            return keras.ops.concatenate([x, x], axis=-1)

    doubler = Doubler()
    doubler(np.zeros((1, 3), "float32"))
    assert output_shape(doubler) is None
