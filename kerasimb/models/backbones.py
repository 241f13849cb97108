"""Backbones from `keras.applications`, a logits classifier on top, and `model_fn(name)`.

Every model is registered by name in `MODELS` (a `kerasimb.registry.Registry`; names are
case-insensitive and `_` and `-` are ignored, so `"MobileNetV2"`, `"mobilenet_v2"` and
`"mobilenetv2"` are the same): `small_cnn` (`SmallCNN`), `quadsnet` (`QuadSNet`) and these
backbones (each a `Backbone`, whose minimum is also `min_input_size(name)`):

| name | constructor | smallest height / width |
|---|---|---|
| mobilenet | `keras.applications.MobileNet` (v1) | 32 |
| mobilenetv2 | `keras.applications.MobileNetV2` | 32 |
| resnet50 | `keras.applications.ResNet50` | 32 |
| densenet121 | `keras.applications.DenseNet121` | 32 |
| densenet169 | `keras.applications.DenseNet169` | 32 |
| inceptionv3 | `keras.applications.InceptionV3` | 75 |
| vgg16 | `keras.applications.VGG16` | 32 |
| xception | `keras.applications.Xception` | 71 |
| resnet18 | `kerasimb.models.ResNet18` (Keras layers; CIFAR stem below 64 px) | 8 |

ResNet-18 (the AdUni paper's encoder) is built here, not taken from `keras.applications`: for
inputs below 64x64 it uses the CIFAR stem (3x3 convolution, stride 1, no max-pool), so 28-32 px
images keep 4x4 maps at the last stage; from 64 px up the paper's ImageNet stem (see
`kerasimb.models.resnet18`). It has no ImageNet weights; a weights file saved from a 3-channel
ResNet-18 can be loaded (its inputs are scaled as torchvision's).

Weights are `None` (random initialisation, no download) by default. Grey images:

- `weights=None`: the backbone is built for the input's own channels (its first convolution
  takes 1 channel), which costs nothing and needs no conversion.
- `weights="imagenet"` or a weights file: ImageNet weights need 3 channels, so the backbone is
  built for `(H, W, 3)` and wrapped behind an `ImageNetInputs` layer that repeats a grey channel
  to RGB and applies the architecture's ImageNet input scaling to the [0, 1] images kerasimb
  pipelines yield.

Smaller images (MedMNIST is 28x28) raise a `ValueError` by default: resize them first, e.g.
with `load_dataset(..., image_size=32)`, or ask for a `keras.layers.Resizing` layer inside the
model with `resize_to_min=True` (each side below the minimum is raised to it) or
`input_size=N` (bilinear resizing to N x N).

`model_fn("quadsnet")` builds `kerasimb.models.QuadSNet` (not a `keras.applications` model).
A model class of one's own, called as `MyNet(input_shape, num_classes, **kwargs)`, joins with
`MODELS.register("my_net", MyNet)`; `model_fn("my_net", ...)` then builds it.

Example:

>>> MODELS.list("resnet*"), MODELS.canonical("ResNet-18")
(['resnet18', 'resnet50'], 'resnet18')
>>> MODELS.get("xception").min_size
71
"""

import inspect
import os
from typing import Callable, NamedTuple

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.models.imagenet_inputs import ImageNetInputs
from kerasimb.models.quadsnet import QuadSNet
from kerasimb.models.resnet18 import ResNet18
from kerasimb.models.small_cnn import SmallCNN
from kerasimb.registry import Registry
from kerasimb.utils import network
from kerasimb.utils.validation import check_choice, check_float, check_input_shape, check_int


@kerasimb_export("kerasimb.models.Backbone", serializable=False)
class Backbone(NamedTuple):
    """A feature extractor that `build_backbone` and `build_classifier` build by name (read-only).

    Attributes:
        constructor: a `keras.applications`-style constructor taking `include_top`, `weights`,
            `input_shape` and `pooling`.
        min_size: int. The smallest height and width it accepts.
        input_mode: str. The `mode` of the architecture's `preprocess_input` (`"tf"`,
            `"torch"` or `"caffe"`), applied by `ImageNetInputs` with pretrained weights.
    """

    constructor: Callable
    min_size: int
    input_mode: str


def _normalise(name):
    return name.lower().replace("_", "").replace("-", "")


# name -> `SmallCNN`, `QuadSNet` (called as `(input_shape, num_classes, **kwargs)`) or a
# `Backbone` (built by `build_classifier`); `kerasimb list` prints the descriptions.
MODELS = Registry("model", normalise=_normalise)
MODELS.register("small_cnn", SmallCNN,
                description="SmallCNN: 3 conv blocks + linear head, fast on CPU (default)")
MODELS.register(
    "quadsnet", QuadSNet,
    description="QuadSNet (Ali et al., 2021): 4 conv/separable streams, images >= 16x16")
for _name, _constructor, _min_size, _mode in (
    ("mobilenet", keras.applications.MobileNet, 32, "tf"),
    ("mobilenetv2", keras.applications.MobileNetV2, 32, "tf"),
    ("resnet50", keras.applications.ResNet50, 32, "caffe"),
    ("densenet121", keras.applications.DenseNet121, 32, "torch"),
    ("densenet169", keras.applications.DenseNet169, 32, "torch"),
    ("inceptionv3", keras.applications.InceptionV3, 75, "tf"),
    ("vgg16", keras.applications.VGG16, 32, "caffe"),
    ("xception", keras.applications.Xception, 71, "tf"),
    ("resnet18", ResNet18, 8, "torch"),
):
    _source = "kerasimb.models" if _constructor is ResNet18 else "keras.applications"
    MODELS.register(
        _name, Backbone(_constructor, _min_size, _mode),
        description=f"{_source}.{_constructor.__name__}, images >= {_min_size}x{_min_size}")
del _name, _constructor, _min_size, _mode, _source


def _backbone(name, argument):
    """Returns `(canonical name, Backbone)` for a backbone's name (case-insensitive)."""
    entry = MODELS.get(name, argument=argument)
    if not isinstance(entry, Backbone):
        backbones = [n for n in MODELS.names() if isinstance(MODELS.get(n), Backbone)]
        raise ValueError(
            f"Invalid value received for argument `{argument}`. Expected a backbone, one of "
            f"{backbones}. Received: {argument}={name!r}"
        )
    return MODELS.canonical(name), entry


@kerasimb_export("kerasimb.models.min_input_size", serializable=False)
def min_input_size(name):
    """Returns the smallest height and width the model `name` accepts, or `None`.

    Backbones have a fixed minimum (32 for most, 75 for InceptionV3, 71 for Xception, 8 for
    ResNet-18); `small_cnn` and `quadsnet` have none of their own (it follows from their
    `depth` / number of blocks), so they give `None`.

    Args:
        name: str. A name of `MODELS` (case-insensitive).

    Raises:
        ValueError: an unknown name.

    Example:

    >>> min_input_size("InceptionV3"), min_input_size("small_cnn")
    (75, None)
    """
    entry = MODELS.get(name)
    return entry.min_size if isinstance(entry, Backbone) else None


def _check_weights(weights):
    if weights is None or isinstance(weights, str):
        return weights
    raise TypeError(
        "Invalid type received for argument `weights`. Expected `None`, `'imagenet'` or the path "
        f"of a weights file. Received: weights={weights!r}"
    )


# Where keras.applications downloads ImageNet weights from.
WEIGHTS_HOST = ("storage.googleapis.com", 443)


# What Keras loads as weights (`Model.load_weights`), by file name ending, and the first bytes
# such a file starts with (HDF5 signature, zip archive).
_WEIGHTS_FORMATS = {".h5": b"\x89HDF\r\n\x1a\n", ".keras": b"PK\x03\x04"}


def _check_weights_file(path):
    """Refuses a weights file Keras could not load, by its name and its first bytes, before
    anything is built (the same check Keras would only make after the dataset is loaded)."""
    ending = next((end for end in _WEIGHTS_FORMATS if path.lower().endswith(end)), None)
    if ending is None:
        raise ValueError(
            "Invalid value received for argument `weights`. Expected a Keras weights file "
            "(`.weights.h5`, `.h5` or `.keras`). Received: "
            f"weights={path!r}")
    with open(path, "rb") as f:
        start = f.read(len(_WEIGHTS_FORMATS[ending]))
    if start != _WEIGHTS_FORMATS[ending]:
        kind = "an HDF5" if ending == ".h5" else "a .keras (zip)"
        raise ValueError(
            "Invalid value received for argument `weights`. Expected a Keras weights file. "
            f"Received: weights={path!r}, which is not {kind} file (damaged or renamed?)")


@kerasimb_export("kerasimb.models.check_weights", serializable=False)
def check_weights(name, weights, timeout=3.0):
    """Checks, before anything is built or trained, that `weights` can be used for model `name`.

    `None` always can. `"imagenet"` needs a `keras.applications` backbone and the network (the
    weights are downloaded): without a connection to the download host within `timeout`
    seconds this fails at once instead of after Keras' retries. A path must be an existing
    weights file of a backbone (e.g. saved with `save_weights` from the 3-channel architecture
    without its top, or downloaded once and kept).

    Raises:
        ValueError: weights for a model without pretrained weights (`small_cnn`, `quadsnet`;
            `imagenet` for `resnet18`), a missing file, a file that is not a Keras weights file
            (by its name ending and first bytes), `imagenet` without a network.

    Example:

    >>> check_weights("small_cnn", None)
    >>> check_weights("small_cnn", "imagenet")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for argument `weights`. Expected None for model 'small_cnn' (pretrained weights apply to keras.applications backbones). Received: weights='imagenet'
    """
    weights = _check_weights(weights)
    if weights is None:
        return
    entry = MODELS.get(name)
    key = MODELS.canonical(name)
    if not isinstance(entry, Backbone) or (weights == "imagenet" and key == "resnet18"):
        raise ValueError(
            f"Invalid value received for argument `weights`. Expected None for model {key!r} "
            f"(pretrained weights apply to keras.applications backbones). Received: "
            f"weights={weights!r}")
    if weights != "imagenet":
        if not os.path.isfile(weights):
            raise ValueError(
                "Invalid value received for argument `weights`. Expected 'imagenet' or the path "
                f"of a weights file. Received: weights={weights!r}, which does not exist")
        _check_weights_file(weights)
        return
    try:
        network.check_connection(*WEIGHTS_HOST, timeout=timeout)
    except ConnectionError as error:
        raise ValueError(
            "Invalid value received for argument `weights`. 'imagenet' downloads the weights, "
            f"which needs the network, and {error}. Pass the path of a local weights file "
            "instead (for example one kept from an earlier download in ~/.keras/models). "
            "Received: weights='imagenet'") from None


@kerasimb_export("kerasimb.models.build_backbone", serializable=False)
def build_backbone(name, input_shape, weights=None, pooling="avg", resize_to_min=False,
                   input_size=None):
    """Builds a `keras.applications` feature extractor (no classifier) by name.

    Args:
        name: str. A backbone of `MODELS` (case-insensitive), e.g. `"mobilenetv2"`.
        input_shape: tuple `(height, width, channels)`; height and width at least the
            architecture's minimum (32 for most, 75 for InceptionV3, 71 for Xception).
        weights: `None` (random initialisation), `"imagenet"` (downloads) or the path of a
            weights file for the 3-channel architecture. Defaults to `None`.
        pooling: `"avg"`, `"max"` or `None` (feature maps). Defaults to `"avg"`.
        resize_to_min: bool. When the input is smaller than the architecture's minimum, resize
            it inside the model (bilinear `keras.layers.Resizing`), raising each side below the
            minimum to it, instead of raising an error. Defaults to `False`.
        input_size: `None` or int >= the architecture's minimum. Resize every input to
            `input_size x input_size` inside the model. Defaults to `None`.

    Returns:
        A `keras.Model` taking `(batch, *input_shape)` float images in [0, 1] and returning
        `(batch, features)` (or feature maps with `pooling=None`). With `weights`, grey inputs
        are repeated to RGB and scaled for ImageNet inside the model (see the module docstring).

    Raises:
        ValueError: an unknown name, an input smaller than the architecture's minimum (without
            `resize_to_min` or `input_size`), an `input_size` below it, or pretrained weights
            with neither 1 nor 3 channels.

    Example:

    >>> backbone = build_backbone("mobilenetv2", (32, 32, 1))
    >>> tuple(backbone.output.shape)
    (None, 1280)
    >>> resized = build_backbone("mobilenetv2", (28, 28, 1), resize_to_min=True)
    >>> tuple(resized.get_layer("resize").output.shape)
    (None, 32, 32, 1)
    """
    key, backbone = _backbone(name, "name")
    input_shape = check_input_shape(input_shape)
    weights = _check_weights(weights)
    check_choice(pooling, "pooling", ("avg", "max", None))
    constructor, min_size = backbone.constructor, backbone.min_size
    if input_size is not None:
        input_size = check_int(input_size, "input_size", minimum=min_size)
        target = (input_size, input_size, input_shape[-1])
    elif resize_to_min:
        target = (max(input_shape[0], min_size), max(input_shape[1], min_size), input_shape[-1])
    else:
        target = input_shape
    if target != input_shape:
        inner = build_backbone(key, target, weights=weights, pooling=pooling)
        inputs = keras.Input(shape=input_shape, name="images")
        x = keras.layers.Resizing(target[0], target[1], interpolation="bilinear",
                                  name="resize")(inputs)
        return keras.Model(inputs, inner(x), name=f"{key}_resized_backbone")
    if min(input_shape[:2]) < min_size:
        raise ValueError(
            f"Invalid value received for argument `input_shape`. Expected height and width of at "
            f"least {min_size} for backbone {key!r} (resize the images, e.g. "
            f"`load_dataset(..., image_size={min_size})`, or pass `resize_to_min=True`). "
            f"Received: input_shape={input_shape}"
        )
    if weights is None:
        return constructor(
            include_top=False, weights=None, input_shape=input_shape, pooling=pooling
        )
    if input_shape[-1] not in (1, 3):
        raise ValueError(
            "Invalid value received for argument `input_shape`. Expected 1 (grey) or 3 (RGB) "
            f"channels for pretrained weights. Received: input_shape={input_shape}"
        )
    features = constructor(
        include_top=False, weights=weights, input_shape=(*input_shape[:2], 3), pooling=pooling
    )
    inputs = keras.Input(shape=input_shape, name="images")
    x = ImageNetInputs(backbone.input_mode, name="imagenet_inputs")(inputs)
    return keras.Model(inputs, features(x), name=f"{key}_backbone")


@kerasimb_export("kerasimb.models.build_classifier", serializable=False)
def build_classifier(backbone_name, input_shape, num_classes, weights=None, dropout=0.0,
                     resize_to_min=False, input_size=None):
    """Builds `backbone -> global average pooling -> dropout -> Dense(num_classes)` logits model.

    Args:
        backbone_name: str. A backbone of `MODELS` (case-insensitive).
        input_shape: tuple `(height, width, channels)`.
        num_classes: int >= 2.
        weights: `None`, `"imagenet"` or a weights file path. Defaults to `None`.
        dropout: float in [0, 1). Dropout before the classifier. Defaults to `0.0`.
        resize_to_min: bool. See `build_backbone`. Defaults to `False`.
        input_size: `None` or int. See `build_backbone`. Defaults to `None`.

    Returns:
        A functional `keras.Model` named `"<backbone>_classifier"` whose output layer `"logits"`
        is float32 (so logits stay float32 under mixed precision).

    Example:

    >>> model = build_classifier("mobilenetv2", (32, 32, 1), num_classes=5)
    >>> tuple(model.output.shape)
    (None, 5)
    """
    key, _ = _backbone(backbone_name, "backbone_name")
    input_shape = check_input_shape(input_shape)
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    dropout = check_float(dropout, "dropout", 0.0, 1.0, max_inclusive=False)
    backbone = build_backbone(key, input_shape, weights=weights, pooling="avg",
                              resize_to_min=resize_to_min, input_size=input_size)
    inputs = keras.Input(shape=input_shape, name="images")
    x = backbone(inputs)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{key}_classifier")


class _ModelFn:
    """The callable `model_fn` returns; its `repr` records the name and arguments."""

    def __init__(self, name, kwargs):
        self.name = name
        self.kwargs = dict(kwargs)

    def __call__(self, input_shape, num_classes):
        entry = MODELS.get(self.name)
        if isinstance(entry, Backbone):
            return build_classifier(self.name, input_shape, num_classes, **self.kwargs)
        return entry(input_shape, num_classes, **self.kwargs)

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"model_fn({self.name!r}{args})"


@kerasimb_export("kerasimb.models.model_fn", serializable=False)
def model_fn(name="small_cnn", **kwargs):
    """Returns a callable `(input_shape, num_classes) -> keras.Model` (logits) for `Method.train`.

    Args:
        name: str. A name of `MODELS` (case-insensitive; `_` and `-` ignored): `"small_cnn"`
            (`SmallCNN`), `"quadsnet"` (`QuadSNet`) or a backbone (`build_classifier`).
            Defaults to `"small_cnn"`.
        **kwargs: fixed arguments for `SmallCNN` (`width`, `depth`, `dropout`), `QuadSNet`
            (`filters`, `classifier_units`, ...) or `build_classifier` (`weights`, `dropout`,
            `resize_to_min`, `input_size`). Checked now, not at the first call.

    Raises:
        ValueError: an unknown name (the message lists `MODELS.names()`).
        TypeError: an argument the model does not take.

    Example:

    >>> make = model_fn("small_cnn", width=8)
    >>> make
    model_fn('small_cnn', width=8)
    >>> make((28, 28, 1), 3).name
    'small_cnn'
    >>> model_fn("MobileNet_V2")
    model_fn('mobilenetv2')
    """
    entry = MODELS.get(name)
    key = MODELS.canonical(name)
    if isinstance(entry, Backbone):
        target = build_classifier
    else:
        target = entry.__init__ if isinstance(entry, type) else entry
    parameters = inspect.signature(target).parameters
    fixed = ("self", "input_shape", "num_classes", "backbone_name")
    allowed = [
        p for p, parameter in parameters.items()
        if p not in fixed and parameter.kind != inspect.Parameter.VAR_KEYWORD
    ]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(
            f"Invalid argument received for model {key!r}: {unknown}. Expected some of "
            f"{allowed}. Received: {kwargs}"
        )
    return _ModelFn(key, kwargs)
