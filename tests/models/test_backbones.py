import os
import shutil
import tempfile

import keras
import numpy as np
import pytest

from kerasimb import models
from kerasimb.models import (
    MODELS, Backbone, build_backbone, build_classifier, min_input_size, model_fn)
from kerasimb.models.imagenet_inputs import ImageNetInputs
from kerasimb.testing import TestCase


class BackboneTest(TestCase):
    def test_mobilenetv2_grey_32_builds_and_outputs_logits(self):
        model = build_classifier("mobilenetv2", (32, 32, 1), num_classes=5, dropout=0.2)
        x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
        logits = model.predict(x, verbose=0)
        self.assertEqual(logits.shape, (2, 5))
        self.assertEqual(logits.dtype, np.float32)
        self.assertEqual(model.get_layer("logits").dtype_policy.compute_dtype, "float32")
        self.assertEqual(model.get_layer("head_dropout").rate, 0.2)
        # weights=None builds the network for one channel: no conversion layer, 1-channel kernel.
        backbone = model.layers[1]
        first_conv = next(l for l in backbone.layers if isinstance(l, keras.layers.Conv2D))
        self.assertEqual(first_conv.kernel.shape[2], 1)
        self.assertFalse(any(isinstance(l, ImageNetInputs) for l in backbone.layers))

    def test_backbone_features_and_pooling(self):
        features = build_backbone("MobileNet_V2", (32, 32, 1))  # names are case-insensitive
        self.assertEqual(tuple(features.output.shape), (None, 1280))
        maps = build_backbone("mobilenetv2", (32, 32, 3), pooling=None)
        self.assertEqual(tuple(maps.output.shape), (None, 1, 1, 1280))

    def test_grey_input_with_weights_file_goes_through_imagenet_inputs(self):
        # The offline stand-in for weights="imagenet": a weights file of the 3-channel network.
        source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                                input_shape=(32, 32, 3), pooling="avg")
        path = os.path.join(self.get_temp_dir(), "mobilenetv2.weights.h5")
        source.save_weights(path)
        backbone = build_backbone("mobilenetv2", (32, 32, 1), weights=path)
        self.assertEqual(tuple(backbone.input.shape), (None, 32, 32, 1))
        adapter = backbone.get_layer("imagenet_inputs")
        self.assertEqual(adapter.mode, "tf")
        x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
        rgb = np.repeat(x, 3, axis=-1) * 2.0 - 1.0  # MobileNetV2 scales to [-1, 1]
        self.assertAllClose(backbone.predict(x, verbose=0), source.predict(rgb, verbose=0),
                            atol=1e-4, rtol=1e-4)

    def get_temp_dir(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        return directory

    def test_model_fn_small_cnn(self):
        make = model_fn("small_cnn", width=4, depth=2)
        self.assertEqual(repr(make), "model_fn('small_cnn', width=4, depth=2)")
        model = make((16, 16, 1), 3)
        self.assertIsInstance(model, models.SmallCNN)
        self.assertEqual(model.width, 4)
        self.assertEqual(tuple(model.output.shape), (None, 3))

    def test_model_fn_backbone(self):
        model = model_fn("MobileNetV2", dropout=0.1)((32, 32, 1), 4)
        self.assertEqual(model.name, "mobilenetv2_classifier")
        self.assertEqual(tuple(model.output.shape), (None, 4))

    def test_names(self):
        self.assertEqual(MODELS.names(), sorted(["small_cnn", "quadsnet", *BACKBONES]))
        self.assertEqual(set(BACKBONES), {"mobilenet", "mobilenetv2", "resnet50", "densenet121",
                                          "densenet169", "inceptionv3", "vgg16", "xception",
                                          "resnet18"})
        self.assertIs(MODELS.get("small_cnn"), models.SmallCNN)
        self.assertIs(MODELS.get("QuadSNet"), models.QuadSNet)
        self.assertEqual(MODELS.canonical("Small-CNN"), "small_cnn")
        self.assertEqual(MODELS.list("densenet*"), ["densenet121", "densenet169"])

    def test_descriptions_name_the_constructor_and_the_minimum(self):
        described = {name: text for name, _, text in MODELS.describe()}
        self.assertEqual(described["xception"], "keras.applications.Xception, images >= 71x71")
        self.assertEqual(described["resnet18"], "kerasimb.models.ResNet18, images >= 8x8")
        self.assertTrue(described["small_cnn"].startswith("SmallCNN"))

    def test_a_registered_model_of_ones_own_builds_through_model_fn(self):
        def tiny_net(input_shape, num_classes, units=3):
            inputs = keras.Input(input_shape)
            return keras.Model(inputs, keras.layers.Dense(num_classes)(
                keras.layers.Flatten()(inputs)), name=f"tiny_{units}")

        MODELS.register("tiny_net", tiny_net)
        self.addCleanup(MODELS.unregister, "tiny_net")
        make = model_fn("Tiny-Net", units=5)
        self.assertEqual(repr(make), "model_fn('tiny_net', units=5)")
        self.assertEqual(make((4, 4, 1), 2).name, "tiny_5")
        with pytest.raises(TypeError, match=r"\['width'\]"):
            model_fn("tiny_net", width=3)


# Every backbone and its minimum side, written out by hand (keras.applications' own limits).
BACKBONES = {"mobilenet": 32, "mobilenetv2": 32, "resnet50": 32, "densenet121": 32,
             "densenet169": 32, "inceptionv3": 75, "vgg16": 32, "xception": 71, "resnet18": 8}


def test_min_input_size():
    assert {n: min_input_size(n) for n in BACKBONES} == BACKBONES
    assert min_input_size("Inception_V3") == 75
    assert min_input_size("small_cnn") is None and min_input_size("quadsnet") is None
    with pytest.raises(ValueError, match="Received: name='resnet34'"):
        min_input_size("resnet34")


def test_backbone_entries_are_read_only():
    entry = MODELS.get("xception")
    assert isinstance(entry, Backbone)
    assert entry == Backbone(keras.applications.Xception, 71, "tf")
    with pytest.raises(AttributeError):
        entry.min_size = 10


@pytest.mark.parametrize("name, min_size", sorted(BACKBONES.items()))
def test_input_below_minimum_raises_with_the_minimum(name, min_size):
    with pytest.raises(ValueError, match=f"at least {min_size} for backbone '{name}'"):
        build_backbone(name, (min_size - 1, min_size, 1))
    with pytest.raises(ValueError, match=f"at least {min_size}"):
        build_classifier(name.upper(), (min_size, min_size - 1, 3), 3)


def test_minimum_sizes_match_keras():
    backbones = {n: MODELS.get(n) for n in MODELS.names() if isinstance(MODELS.get(n), Backbone)}
    assert {n: b.min_size for n, b in backbones.items()} == BACKBONES
    assert backbones["xception"].constructor is keras.applications.Xception
    assert backbones["resnet18"].constructor is models.ResNet18
    assert {n: b.input_mode for n, b in backbones.items()} == {
        "mobilenet": "tf", "mobilenetv2": "tf", "resnet50": "caffe", "densenet121": "torch",
        "densenet169": "torch", "inceptionv3": "tf", "vgg16": "caffe", "xception": "tf",
        "resnet18": "torch"}


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: build_backbone("resnet34", (32, 32, 1)), ValueError, "Received: name='resnet34'"),
        (lambda: build_backbone(None, (32, 32, 1)), ValueError, "mobilenetv2"),
        (lambda: build_backbone("vgg16", (32, 32)), ValueError, "tuple of 3 integers"),
        (lambda: build_backbone("vgg16", (32, 32, 1), pooling="sum"), ValueError, "pooling='sum'"),
        (lambda: build_backbone("vgg16", (32, 32, 1), weights=3), TypeError, "weights=3"),
        (lambda: build_backbone("vgg16", (32, 32, 2), weights="x.h5"), ValueError, "3 .RGB."),
        (lambda: build_classifier("nope", (32, 32, 1), 3), ValueError, "backbone_name='nope'"),
        (lambda: build_backbone("small_cnn", (32, 32, 1)), ValueError,
         r"Expected a backbone, one of \['densenet121'.*Received: name='small_cnn'"),
        (lambda: build_classifier("vgg16", (32, 32, 1), 1), ValueError, "num_classes=1"),
        (lambda: build_classifier("vgg16", (32, 32, 1), 3, dropout=1.5), ValueError, "dropout"),
        (lambda: model_fn("resnet34"), ValueError, "small_cnn"),
        (lambda: model_fn("small_cnn", weights=None), TypeError, r"\['weights'\]"),
        (lambda: model_fn("vgg16", width=3), TypeError, r"\['width'\]"),
    ],
)
def test_invalid_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("mode, module", [
    ("tf", keras.applications.mobilenet_v2),
    ("torch", keras.applications.densenet),
    ("caffe", keras.applications.resnet50),
])
@pytest.mark.parametrize("channels", [1, 3])
def test_imagenet_inputs_match_keras_preprocess_input(mode, module, channels):
    x = np.random.default_rng(channels).random((2, 4, 5, channels)).astype("float32")
    rgb255 = np.repeat(x, 3 // channels, axis=-1) * 255.0
    expected = module.preprocess_input(rgb255.copy())
    actual = keras.ops.convert_to_numpy(ImageNetInputs(mode)(x))
    np.testing.assert_allclose(actual, expected, atol=1e-3, rtol=1e-5)


def test_imagenet_inputs_serialization_and_errors():
    case = TestCase()
    case.run_serialization_test(ImageNetInputs("caffe"))
    case.run_keras_file_test(ImageNetInputs("torch"), input_shape=(4, 4, 1))
    with pytest.raises(ValueError, match="mode='bgr'"):
        ImageNetInputs("bgr")
    with pytest.raises(ValueError, match="1 or 3"):
        ImageNetInputs()(np.zeros((1, 4, 4, 2), "float32"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_builds_at_its_minimum_grey(name):
    size = max(BACKBONES[name], 32)
    model = build_classifier(name, (size, size, 1), num_classes=3)
    logits = model.predict(np.zeros((1, size, size, 1), "float32"), verbose=0)
    assert logits.shape == (1, 3) and logits.dtype == np.float32


@pytest.mark.slow
def test_classifier_keras_file_round_trip():
    model = build_classifier("mobilenetv2", (32, 32, 1), num_classes=3)
    TestCase().run_keras_file_test(model)


# --- Pretrained weights: checked before anything is built ------------------------------------


def test_check_weights_refuses_what_cannot_work(tmp_path, monkeypatch):
    import socket

    from kerasimb.models import backbones

    models.check_weights("small_cnn", None)
    with pytest.raises(ValueError, match="Expected None for model 'small_cnn'"):
        models.check_weights("small_cnn", "imagenet")
    with pytest.raises(ValueError, match="Expected None for model 'resnet18'"):
        models.check_weights("resnet18", "imagenet")
    with pytest.raises(ValueError, match="does not exist"):
        models.check_weights("mobilenetv2", str(tmp_path / "missing.weights.h5"))
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(ValueError, match=r"Expected a Keras weights file \(`.weights.h5`"):
        models.check_weights("mobilenetv2", str(tmp_path / "notes.txt"))
    (tmp_path / "renamed.weights.h5").write_text("not weights")  # right name, wrong content
    with pytest.raises(ValueError, match="renamed.weights.h5.*not an HDF5 file"):
        models.check_weights("mobilenetv2", str(tmp_path / "renamed.weights.h5"))
    (tmp_path / "renamed.keras").write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(ValueError, match="not a .keras \\(zip\\) file"):
        models.check_weights("mobilenetv2", str(tmp_path / "renamed.keras"))

    def offline(address, timeout):
        assert address == backbones.WEIGHTS_HOST and timeout == 3.0
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    with pytest.raises(ValueError, match="needs the network.*local weights file"):
        models.check_weights("MobileNetV2", "imagenet")


def test_a_local_weights_file_is_loaded(tmp_path):
    import warnings

    features = keras.applications.MobileNetV2(include_top=False, weights=None,
                                              input_shape=(32, 32, 3), pooling="avg")
    path = str(tmp_path / "mobilenetv2_notop.weights.h5")
    features.save_weights(path)
    models.check_weights("mobilenetv2", path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = models.model_fn("mobilenetv2", weights=path)((32, 32, 1), 2)
    inner = network.get_layer("mobilenetv2_backbone")
    loaded = [layer for layer in inner.layers if isinstance(layer, keras.Model)][0]
    for a, b in zip(loaded.get_weights(), features.get_weights()):
        np.testing.assert_array_equal(a, b)
