"""`CosineClassifier`: cosine similarities of normalised features and class weights."""

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_float, check_int


@kerasimb_export("kerasimb.layers.CosineClassifier")
class CosineClassifier(keras.layers.Layer):
    """Linear classifier on L2-normalised features with L2-normalised class weights.

    Outputs `scale * cos(θ_j) = scale * <x / ||x||, w_j / ||w_j||>` for each class `j`, so with
    `scale=1` (the default) the logits lie in [-1, 1]: the head LDAM (Cao et al., 2019) sits on,
    with the loss's own `scale` sharpening them. No bias. Norms are floored at 1e-12, so an
    all-zero feature vector gives zero logits rather than NaN. Normalises in float32 and returns
    the layer's compute dtype; pass `dtype="float32"` for the last layer of a mixed-precision model.

    Args:
        units: int >= 1. Number of classes.
        scale: float > 0. Multiplies the cosines. Defaults to `1.0`.
        kernel_initializer: initializer of the `(features, units)` weight. Defaults to
            `"glorot_uniform"`.
        **kwargs: passed to `keras.layers.Layer` (e.g. `name`, `dtype`).

    Call arguments:
        inputs: features `(batch, features)`.

    Returns:
        Tensor `(batch, units)`.

    Example:

    >>> import numpy as np
    >>> layer = CosineClassifier(2)
    >>> _ = layer.build((None, 2))
    >>> _ = layer.kernel.assign([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(v), 4) for v in layer(np.array([[3.0, 3.0]]))[0]]
    [0.7071, 0.7071]

    References:
        - [Cao et al., 2019](https://arxiv.org/abs/1906.07413)
    """

    def __init__(self, units, scale=1.0, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", minimum=1)
        self.scale = check_float(scale, "scale", minimum=0.0, min_inclusive=False)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "Invalid value received for argument `inputs`. Expected a known feature "
                f"dimension. Received: inputs with shape {tuple(input_shape)}"
            )
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.units),
            initializer=self.kernel_initializer,
            name="kernel",
        )

    def call(self, inputs):
        # Normalise in float32 (a 1e-12 floor underflows in float16), return the compute dtype.
        x = ops.cast(inputs, "float32")
        x = x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-12)
        kernel = ops.cast(self.kernel, "float32")
        w = kernel / ops.maximum(ops.norm(kernel, axis=0, keepdims=True), 1e-12)
        return ops.cast(self.scale * ops.matmul(x, w), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "scale": self.scale,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
