"""ResNet-18 (He et al., CVPR 2016) from Keras layers; `keras.applications` has none.

BasicBlocks `[2, 2, 2, 2]` with 64-128-256-512 filters: each block is
`conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN`, added to the input (or to a `1x1 conv(stride)
-> BN` projection of it when the shape changes), then ReLU. Convolutions have no bias (the
batch normalisation that follows has one), as in the paper and torchvision; stages 3-5 start
with stride 2.

Two stems:

- `"imagenet"`: `conv7x7/2 (64) -> BN -> ReLU -> maxpool3x3/2`, the paper's network (ImageNet
  input is downsampled 32 times). With a 1000-class head it has 11,689,512 trainable parameters.
- `"cifar"`: `conv3x3/1 (64) -> BN -> ReLU`, no max-pool, the usual variant for 32x32 images
  (used by the AdUni and PaCo authors' CIFAR code): the input is downsampled 8 times, so a
  28x28 MedMNIST image still gives 4x4 maps at the last stage instead of 1x1.
- `"auto"` (default): `"cifar"` when the height or width is below 64, else `"imagenet"`.

Stride-2 convolutions use Keras `"same"` padding, which pads even-sized inputs on the bottom and
right only (PyTorch pads 1 on every side); the output shapes and parameter counts are the same.
"""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_int

STEMS = ("auto", "imagenet", "cifar")
CIFAR_STEM_BELOW = 64  # "auto" picks the CIFAR stem for inputs smaller than this
_FILTERS = (64, 128, 256, 512)
_BLOCKS = (2, 2, 2, 2)


def _conv_bn(x, filters, kernel_size, strides, name, relu=True):
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                            use_bias=False, kernel_initializer="he_normal",
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def _basic_block(x, filters, strides, name):
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, 1, strides, f"{name}_down", relu=False)
    y = _conv_bn(x, filters, 3, strides, f"{name}_1")
    y = _conv_bn(y, filters, 3, 1, f"{name}_2", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


@kerasimb_export("kerasimb.models.ResNet18", serializable=False)
def ResNet18(include_top=False, weights=None, input_shape=(224, 224, 3), pooling=None,
             classes=1000, stem="auto", name="resnet18"):
    """Builds a ResNet-18 `keras.Model` with the `keras.applications` constructor interface.

    Args:
        include_top: bool. Add global average pooling and a `Dense(classes)` head (logits,
            no softmax). Defaults to `False`.
        weights: `None` (random initialisation) or the path of a weights file saved from a
            ResNet-18 with the same arguments. There are no built-in ImageNet weights.
            Defaults to `None`.
        input_shape: tuple `(height, width, channels)`. Defaults to `(224, 224, 3)`.
        pooling: `None` (feature maps), `"avg"` or `"max"`, when `include_top=False`.
            Defaults to `None`.
        classes: int >= 1. Outputs of the head with `include_top=True`. Defaults to `1000`.
        stem: `"auto"`, `"imagenet"` or `"cifar"` (see the module docstring). Defaults to
            `"auto"`.
        name: str. The model's name. Defaults to `"resnet18"`.

    Returns:
        A functional `keras.Model`: `(batch, *input_shape)` -> `(batch, 512)` with pooling,
        `(batch, h, w, 512)` without, or `(batch, classes)` logits with the head.

    Raises:
        ValueError: an unknown `stem` or `pooling`, `weights="imagenet"`, or a bad `classes`.

    Example:

    >>> model = ResNet18(input_shape=(32, 32, 1), pooling="avg")
    >>> tuple(model.output.shape)
    (None, 512)
    >>> tuple(ResNet18(input_shape=(32, 32, 1)).output.shape)  # CIFAR stem: 32 / 8
    (None, 4, 4, 512)
    >>> tuple(ResNet18(input_shape=(64, 64, 3), stem="imagenet").output.shape)  # 64 / 32
    (None, 2, 2, 512)
    """
    check_choice(stem, "stem", STEMS)
    check_choice(pooling, "pooling", ("avg", "max", None))
    classes = check_int(classes, "classes", minimum=1)
    if weights == "imagenet":
        raise ValueError(
            "Invalid value received for argument `weights`. Expected `None` or the path of a "
            "ResNet-18 weights file (kerasimb has no ImageNet weights for ResNet-18). "
            f"Received: weights={weights!r}"
        )
    input_shape = tuple(input_shape)
    if stem == "auto":
        stem = "cifar" if min(input_shape[:2]) < CIFAR_STEM_BELOW else "imagenet"
    inputs = keras.Input(shape=input_shape, name="images")
    if stem == "imagenet":
        x = _conv_bn(inputs, 64, 7, 2, "stem")
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    else:
        x = _conv_bn(inputs, 64, 3, 1, "stem")
    for stage, (filters, blocks) in enumerate(zip(_FILTERS, _BLOCKS), start=2):
        for block in range(blocks):
            strides = 2 if block == 0 and stage > 2 else 1
            x = _basic_block(x, filters, strides, f"conv{stage}_block{block + 1}")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(classes, name="predictions")(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
