"""`QuadSNet`: the quad-stream hybrid network of Ali, Ali and Hussain (IJACSA 2021).

Paper: "Improved Medical Image Classification Accuracy on Heterogeneous and Imbalanced Data
using Multiple Streams Network", International Journal of Advanced Computer Science and
Applications 12(7), 2021, doi:10.14569/IJACSA.2021.0120770. No reference code is public; every
choice the paper leaves open is listed in the class docstring.
"""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.layers.quadsnet_block import (
    STREAM_KERNELS,
    QuadSNetBlock,
    block_output_size,
    check_activation,
)
from kerasimb.utils.validation import check_float, check_input_shape, check_int

# The trainable-parameter count the paper reports for QuadSNet (its Table II).
PAPER_PARAMETERS = 5_235_944

# The defaults: the doubling filter schedule (f, 2f, 4f, 8f) and classifier that come closest to
# the paper's count (see the QuadSNet docstring): 5,230,712 trainable parameters for RGB inputs
# and 2 classes, 5,232 (0.10%) below the paper's 5,235,944.
DEFAULT_FILTERS = (56, 112, 224, 448)
DEFAULT_CLASSIFIER_UNITS = (256,)


def _check_int_tuple(values, name, allow_empty=False):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a sequence of integers. "
            f"Received: {name}={values!r}"
        )
    values = tuple(check_int(v, name, minimum=1) for v in values)
    if not values and not allow_empty:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a non-empty sequence of "
            f"integers >= 1. Received: {name}={values!r}"
        )
    return values


def _smallest_input(num_blocks, padding):
    """Smallest height/width that survives `num_blocks` blocks of every stream (>= 1 pixel)."""
    size = 1
    while True:
        ok = True
        for kernel_size, _ in STREAM_KERNELS.values():
            s = size
            for _ in range(num_blocks):
                s = block_output_size(s, kernel_size, padding)
                if s < 1:
                    ok = False
                    break
        if ok:
            return size
        size += 1


@kerasimb_export("kerasimb.models.QuadSNet")
class QuadSNet(keras.Model):
    """QuadSNet: four parallel convolutional streams, fused, pooled and classified.

    Four streams read the same input image:

    - CS1: `Conv2D` 3x3, CS2: `Conv2D` 5x5 (conventional streams),
    - SS1: `SeparableConv2D` 3x3, SS2: `SeparableConv2D` 5x5 (separable streams),

    each made of `len(filters)` (four in the paper) `kerasimb.layers.QuadSNetBlock`s: convolution,
    BatchNormalization (momentum 0.99, epsilon 1e-4), Dropout(0.3), 2x2 max-pooling. The
    feature maps are fused as in the paper, F_cs = concat(F_CS1, F_CS2),
    F_ss = concat(F_SS1, F_SS2), F_total = concat(F_cs, F_ss) (channel axis), then average
    pooling, Dropout(0.3) and the classifier, which outputs logits (its last `Dense` has dtype
    float32, so logits are float32 under a mixed-precision policy too).

    Choices the paper leaves open, and what is done here:

    - **Filters per block**: not stated. `filters` is shared by the four streams; the default
      `(56, 112, 224, 448)` is the doubling schedule `(f, 2f, 4f, 8f)` whose parameter count
      with the default classifier comes closest to the paper's 5,235,944 trainable parameters:
      5,230,712 for RGB inputs and 2 classes (-0.10%), 5,226,612 for grey inputs. The search
      (f = 8, 16, ..., 128, doubling or constant schedules; global average pooling or 2x2
      average pooling + flatten at input sizes 28 to 256; no hidden layer or one of 64 to 1024
      units; 1 or 3 channels; 2 or 3 classes) found no exact match; the power-of-two schedules
      give 1,567,272 (`(32, 64, 128, 256)`) and 6,231,016 (`(64, 128, 256, 512)`) with a linear
      classifier. Pass `filters=(32, 64, 128, 256)` for a model a quarter the size.
    - **Activation**: not stated; `"relu"`, applied inside the convolution (before BatchNorm,
      since the paper's block names no activation layer); `activation_after_bn=True` moves it.
    - **Padding**: not stated, but the paper concatenates the 3x3 and 5x5 streams' feature
      maps, which only match in size with `"same"` padding; so only the poolings shrink the
      maps, and inputs from 16x16 up (2**blocks) pass the four blocks (28x28 -> 14 -> 7 -> 3
      -> 1). Smaller inputs raise a `ValueError` naming the smallest size (no upsampling).
    - **Average pooling**: global average pooling, so the classifier's size does not depend on
      the input size (the paper states neither the pooling's size nor the input size).
    - **Classifier**: `Dense(units, activation)` for each of `classifier_units` (default one
      hidden layer of 256, part of the closest parameter match above), then `Dense(num_classes)`
      logits. `classifier_units=()` gives a linear classifier.

    Args:
        input_shape: tuple `(height, width, channels)`; any number of channels (grey or colour).
        num_classes: int >= 2. Number of logits.
        filters: sequence of int >= 1, the filters of each block of every stream (its length is
            the number of blocks). Defaults to `(56, 112, 224, 448)`.
        activation: str. Keras activation of the blocks and hidden classifier layers.
            Defaults to `"relu"`.
        classifier_units: sequence of int >= 1. Hidden `Dense` layers of the classifier.
            Defaults to `(256,)`.
        dropout: float in [0, 1). Dropout after the average pooling. Defaults to `0.3`.
        block_dropout: float in [0, 1). Dropout inside every block. Defaults to `0.3`.
        momentum: float in [0, 1). BatchNorm momentum. Defaults to `0.99` (the paper's). Its
            moving averages remember about `1 / (1 - momentum)` steps, so after a few epochs
            on a small set they lag the weights and inference can collapse to one class;
            `kerasimb.callbacks.RecalibrateBatchNorm` recomputes them exactly from the
            training images without changing training (`recipes/quadsnet.py --recalibrate-bn`).
        epsilon: float > 0. BatchNorm epsilon. Defaults to `1e-4`.
        activation_after_bn: bool. Conv -> BN -> activation instead of conv(+activation) -> BN.
            Defaults to `False`.
        seed: int or `None`. Seeds the dropout masks. Defaults to `None`.
        **kwargs: passed to `keras.Model` (e.g. `name`, default `"quadsnet"`).

    Raises:
        ValueError: an input smaller than the blocks allow, or a bad argument value.
        TypeError: an argument of the wrong type.

    Example:

    >>> model = QuadSNet((28, 28, 1), num_classes=2, filters=(4, 8, 8, 16), classifier_units=())
    >>> tuple(model.output.shape)
    (None, 2)
    >>> tuple(model.get_layer("f_total").output.shape)
    (None, 1, 1, 64)
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        filters=DEFAULT_FILTERS,
        activation="relu",
        classifier_units=DEFAULT_CLASSIFIER_UNITS,
        dropout=0.3,
        block_dropout=0.3,
        momentum=0.99,
        epsilon=1e-4,
        activation_after_bn=False,
        seed=None,
        **kwargs,
    ):
        input_shape = check_input_shape(input_shape)
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        filters = _check_int_tuple(filters, "filters")
        activation = check_activation(activation)
        classifier_units = _check_int_tuple(classifier_units, "classifier_units", allow_empty=True)
        dropout = check_float(dropout, "dropout", 0.0, 1.0, max_inclusive=False)
        block_dropout = check_float(block_dropout, "block_dropout", 0.0, 1.0, max_inclusive=False)
        momentum = check_float(momentum, "momentum", 0.0, 1.0, max_inclusive=False)
        epsilon = check_float(epsilon, "epsilon", 0.0, min_inclusive=False)
        seed = None if seed is None else check_int(seed, "seed", minimum=0)
        smallest = _smallest_input(len(filters), "same")
        if min(input_shape[:2]) < smallest:
            raise ValueError(
                f"Invalid value received for argument `input_shape`. Expected height and width "
                f"of at least {smallest} for {len(filters)} blocks "
                f"(every block max-pools by 2; resize the images, e.g. "
                f"`load_dataset(..., image_size=32)`). Received: input_shape={input_shape}"
            )
        kwargs.setdefault("name", "quadsnet")

        # === Layers ===
        self.streams = {}
        for s, (stream, (kernel_size, separable)) in enumerate(STREAM_KERNELS.items()):
            self.streams[stream] = [
                QuadSNetBlock(
                    f, kernel_size, separable=separable, activation=activation,
                    activation_after_bn=activation_after_bn, dropout=block_dropout,
                    momentum=momentum, epsilon=epsilon, padding="same",
                    seed=None if seed is None else seed + 100 * s + b,
                    name=f"{stream}_block{b + 1}",
                )
                for b, f in enumerate(filters)
            ]
        self.concat_cs = keras.layers.Concatenate(name="f_cs")
        self.concat_ss = keras.layers.Concatenate(name="f_ss")
        self.concat_total = keras.layers.Concatenate(name="f_total")
        self.pooler = keras.layers.GlobalAveragePooling2D(name="avg_pool")
        self.head_dropout = keras.layers.Dropout(dropout, seed=seed, name="head_dropout")
        self.hidden = [
            keras.layers.Dense(units, activation=activation, name=f"classifier_dense{i + 1}")
            for i, units in enumerate(classifier_units)
        ]
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        features = {}
        for stream, blocks in self.streams.items():
            x = inputs
            for block in blocks:
                x = block(x)
            features[stream] = x
        f_cs = self.concat_cs([features["cs1"], features["cs2"]])
        f_ss = self.concat_ss([features["ss1"], features["ss2"]])
        x = self.head_dropout(self.pooler(self.concat_total([f_cs, f_ss])))
        for layer in self.hidden:
            x = layer(x)
        outputs = self.classifier(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.filters = filters
        self.activation = activation
        self.classifier_units = classifier_units
        self.dropout = dropout
        self.block_dropout = block_dropout
        self.momentum = momentum
        self.epsilon = epsilon
        self.activation_after_bn = activation_after_bn
        self.seed = seed

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": list(self.input_shape[1:]),
            "num_classes": self.num_classes,
            "filters": list(self.filters),
            "activation": self.activation,
            "classifier_units": list(self.classifier_units),
            "dropout": self.dropout,
            "block_dropout": self.block_dropout,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "activation_after_bn": self.activation_after_bn,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
