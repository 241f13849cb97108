"""`QuadSNetBlock`: one block of a QuadSNet stream (Ali, Ali and Hussain, IJACSA 2021)."""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_float, check_int

STREAM_KERNELS = {"cs1": (3, False), "cs2": (5, False), "ss1": (3, True), "ss2": (5, True)}


def check_activation(activation, name="activation"):
    """Returns `activation` if it is the name of a Keras activation (kept as a string so that
    configs stay JSON-friendly)."""
    if not isinstance(activation, str):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected the name of a Keras "
            f"activation, e.g. 'relu'. Received: {name}={activation!r}"
        )
    try:
        keras.activations.get(activation)
    except ValueError:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected the name of a Keras "
            f"activation, e.g. 'relu'. Received: {name}={activation!r}"
        ) from None
    return activation


def block_output_size(size, kernel_size, padding="same", pool_size=2):
    """Returns the height (or width) after one block: convolution, then `pool_size` pooling."""
    if padding == "valid":
        size = size - kernel_size + 1
    return size // pool_size if size >= pool_size else 0


@kerasimb_export("kerasimb.layers.QuadSNetBlock")
class QuadSNetBlock(keras.layers.Layer):
    """One QuadSNet block: convolution -> BatchNorm -> Dropout -> 2x2 max-pooling.

    The four streams of `kerasimb.models.QuadSNet` are four of these blocks each, with a
    `Conv2D` (`separable=False`, streams CS1 and CS2) or a `SeparableConv2D` (`separable=True`,
    streams SS1 and SS2) of kernel 3x3 or 5x5. The paper lists the block as convolution,
    BatchNormalization (momentum 0.99, epsilon 1e-4), Dropout(0.3) and 2x2 max-pooling and names
    no separate activation layer, which in Keras means the activation is the convolution's own
    (`Conv2D(..., activation="relu")`), i.e. applied *before* BatchNorm: that is the default
    here. `activation_after_bn=True` gives the more common conv -> BN -> activation order. The
    convolutions keep their bias (Keras' default; the paper says nothing about it), so a block
    has `k*k*c_in*filters + filters` (Conv2D) or `k*k*c_in + c_in*filters + filters`
    (SeparableConv2D) convolution weights plus `2*filters` trainable BatchNorm weights.

    Args:
        filters: int >= 1. Output channels.
        kernel_size: int >= 1. Square kernel size (3 or 5 in the paper).
        separable: bool. `SeparableConv2D` (depth multiplier 1) instead of `Conv2D`.
            Defaults to `False`.
        activation: str. A Keras activation name. Defaults to `"relu"`.
        activation_after_bn: bool. Apply the activation after BatchNorm instead of inside the
            convolution. Defaults to `False`.
        dropout: float in [0, 1). Dropout rate after BatchNorm. Defaults to `0.3`.
        momentum: float in [0, 1). BatchNorm momentum. Defaults to `0.99`.
        epsilon: float > 0. BatchNorm epsilon. Defaults to `1e-4`.
        padding: `"same"` (the default: the size is kept by the convolution and only the
            poolings halve it, so 16x16 inputs and up pass four blocks) or `"valid"`.
        pool_size: int >= 1. Max-pooling window and stride. Defaults to `2`.
        seed: int or `None`. Seed of the dropout mask. Defaults to `None`.
        **kwargs: passed to `keras.layers.Layer` (e.g. `name`).

    Example:

    >>> import numpy as np
    >>> block = QuadSNetBlock(8, 5, separable=True)
    >>> tuple(block(np.zeros((2, 28, 28, 3), "float32")).shape)
    (2, 14, 14, 8)
    >>> block.count_params()  # 5*5*3 + 3*8 + 8 separable weights, 2*8 trainable + 2*8 moving BN
    139
    """

    def __init__(
        self,
        filters,
        kernel_size,
        separable=False,
        activation="relu",
        activation_after_bn=False,
        dropout=0.3,
        momentum=0.99,
        epsilon=1e-4,
        padding="same",
        pool_size=2,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters", minimum=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", minimum=1)
        self.separable = bool(separable)
        self.activation = check_activation(activation)
        self.activation_after_bn = bool(activation_after_bn)
        self.dropout = check_float(dropout, "dropout", 0.0, 1.0, max_inclusive=False)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0, max_inclusive=False)
        self.epsilon = check_float(epsilon, "epsilon", 0.0, min_inclusive=False)
        self.padding = check_choice(padding, "padding", ("same", "valid"))
        self.pool_size = check_int(pool_size, "pool_size", minimum=1)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)

        conv_activation = None if self.activation_after_bn else self.activation
        conv = keras.layers.SeparableConv2D if self.separable else keras.layers.Conv2D
        self.conv = conv(
            self.filters, self.kernel_size, padding=self.padding, activation=conv_activation,
            dtype=self.dtype_policy, name="conv",
        )
        self.bn = keras.layers.BatchNormalization(
            momentum=self.momentum, epsilon=self.epsilon, dtype=self.dtype_policy, name="bn"
        )
        self.act = keras.layers.Activation(self.activation, dtype=self.dtype_policy, name="act")
        self.drop = keras.layers.Dropout(
            self.dropout, seed=self.seed, dtype=self.dtype_policy, name="dropout"
        )
        self.pool = keras.layers.MaxPooling2D(
            self.pool_size, dtype=self.dtype_policy, name="pool"
        )

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Invalid input received by `QuadSNetBlock`. Expected images of shape (batch, "
                f"height, width, channels). Received: input_shape={tuple(input_shape)}"
            )
        self.conv.build(input_shape)
        conv_shape = self.conv.compute_output_shape(input_shape)
        self.bn.build(conv_shape)
        self.drop.build(conv_shape)
        self.pool.build(conv_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = self.bn(self.conv(inputs), training=training)
        if self.activation_after_bn:
            x = self.act(x)
        x = self.drop(x, training=training)
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "separable": self.separable,
            "activation": self.activation,
            "activation_after_bn": self.activation_after_bn,
            "dropout": self.dropout,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "padding": self.padding,
            "pool_size": self.pool_size,
            "seed": self.seed,
        }
