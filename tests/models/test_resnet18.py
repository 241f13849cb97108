import os

import keras
import numpy as np
import pytest

from kerasimb.models import ResNet18, build_backbone, build_classifier, model_fn
from kerasimb.testing import TestCase


def _trainable_count(shape=None, channels=3, stem="imagenet", classes=None):
    """ResNet-18 trainable parameters from the layer formulas (bias-free convs, BN gamma+beta)."""
    conv = lambda k, cin, cout: k * k * cin * cout  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    k = 7 if stem == "imagenet" else 3
    total = conv(k, channels, 64) + bn(64)
    cin = 64
    for cout in (64, 128, 256, 512):
        for block in range(2):
            total += conv(3, cin, cout) + bn(cout) + conv(3, cout, cout) + bn(cout)
            if cin != cout:  # first block of stages 3-5: 1x1 projection shortcut
                total += conv(1, cin, cout) + bn(cout)
            cin = cout
    if classes:
        total += 512 * classes + classes
    return total


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


class ResNet18Test(TestCase):
    def test_imagenet_variant_matches_the_published_count(self):
        # torchvision's resnet18() has 11,689,512 parameters (He et al. 2016 architecture).
        model = ResNet18(include_top=True, input_shape=(64, 64, 3), stem="imagenet")
        self.assertEqual(_count(model.trainable_weights), 11_689_512)
        self.assertEqual(_trainable_count(classes=1000), 11_689_512)
        # BN moving mean and variance, two per channel: 64 (stem) + 4x64 + 5x128 + 5x256 + 5x512.
        self.assertEqual(_count(model.non_trainable_weights), 2 * (64 + 4 * 64 + 5 * 128
                                                                    + 5 * 256 + 5 * 512))
        self.assertEqual(tuple(model.output.shape), (None, 1000))

    def test_cifar_stem_for_small_grey_inputs(self):
        backbone = build_backbone("resnet18", (28, 28, 1))
        self.assertEqual(tuple(backbone.output.shape), (None, 512))
        self.assertEqual(_count(backbone.trainable_weights),
                         _trainable_count(channels=1, stem="cifar"))
        self.assertIsNone(next((l for l in backbone.layers if l.name == "stem_pool"), None))
        maps = build_backbone("ResNet_18", (32, 32, 3), pooling=None)
        self.assertEqual(tuple(maps.output.shape), (None, 4, 4, 512))
        x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
        self.assertEqual(backbone.predict(x, verbose=0).shape, (2, 512))

    def test_auto_stem_switches_at_64(self):
        self.assertEqual(ResNet18(input_shape=(63, 64, 3)).get_layer("stem_conv").kernel.shape[0], 3)
        big = ResNet18(input_shape=(64, 64, 3))
        self.assertEqual(big.get_layer("stem_conv").kernel.shape[0], 7)
        self.assertEqual(tuple(big.output.shape), (None, 2, 2, 512))

    def test_model_fn_and_classifier(self):
        model = model_fn("resnet18")((32, 32, 1), 3)
        self.assertEqual(model.name, "resnet18_classifier")
        self.assertEqual(tuple(model.output.shape), (None, 3))
        self.assertEqual(_count(model.trainable_weights),
                         _trainable_count(channels=1, stem="cifar", classes=3))

    def test_keras_file_round_trip(self):
        model = build_classifier("resnet18", (16, 16, 1), num_classes=2)
        x = np.random.default_rng(1).random((2, 16, 16, 1)).astype("float32")
        loaded = self.run_keras_file_test(model)
        self.assertAllClose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                            atol=1e-5, rtol=1e-5)

    def test_weights_file_for_grey_inputs(self):
        source = ResNet18(input_shape=(16, 16, 3), pooling="avg")
        path = os.path.join(self.get_temp_dir(), "resnet18.weights.h5")
        source.save_weights(path)
        backbone = build_backbone("resnet18", (16, 16, 1), weights=path)
        self.assertEqual(backbone.get_layer("imagenet_inputs").mode, "torch")
        x = np.random.default_rng(2).random((2, 16, 16, 1)).astype("float32")
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
        rgb = ((np.repeat(x, 3, axis=-1) - mean) / std).astype("float32")
        self.assertAllClose(backbone.predict(x, verbose=0), source.predict(rgb, verbose=0),
                            atol=1e-4, rtol=1e-4)

    def get_temp_dir(self):
        import shutil
        import tempfile

        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        return directory


def test_errors():
    with pytest.raises(ValueError, match="Invalid value received for argument `stem`"):
        ResNet18(input_shape=(32, 32, 1), stem="tiny")
    with pytest.raises(ValueError, match="no ImageNet weights for ResNet-18"):
        ResNet18(input_shape=(32, 32, 3), weights="imagenet")
    with pytest.raises(ValueError, match="at least 8 for backbone 'resnet18'"):
        build_backbone("resnet18", (7, 8, 1))
    with pytest.raises(ValueError, match="Invalid value received for argument `pooling`"):
        ResNet18(input_shape=(32, 32, 1), pooling="sum")
