"""`ProjectionHead`: the MLP that maps backbone features to the space of a contrastive loss."""

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_int


@kerasimb_export("kerasimb.layers.ProjectionHead")
class ProjectionHead(keras.layers.Layer):
    """An MLP projection head, `num_layers` Dense layers with ReLU between, L2-normalised output.

    Zeng et al. compute the supervised contrastive loss on the L2-normalised output of a 3-layer
    MLP on top of the backbone features (as SimCLR / SupCon do with their projection heads):
    Dense(hidden) → ReLU → Dense(hidden) → ReLU → Dense(output_dim) → L2 normalisation. The
    output is float32.

    Args:
        hidden_dim: int >= 1. Width of the hidden layers. Defaults to `512`.
        output_dim: int >= 1. Size of the projection. Defaults to `128`.
        num_layers: int >= 1. Number of Dense layers. Defaults to `3`.
        normalize: bool. L2-normalise the output. Defaults to `True`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, features)`.

    Returns:
        Float32 tensor `(batch, output_dim)`, rows of unit norm when `normalize=True`.

    Example:

    >>> import numpy as np
    >>> head = ProjectionHead(hidden_dim=8, output_dim=4)
    >>> out = np.asarray(head(np.ones((2, 6), "float32")))
    >>> out.shape, np.round(np.linalg.norm(out, axis=1), 4).tolist()
    ((2, 4), [1.0, 1.0])
    """

    def __init__(self, hidden_dim=512, output_dim=128, num_layers=3, normalize=True, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = check_int(hidden_dim, "hidden_dim", minimum=1)
        self.output_dim = check_int(output_dim, "output_dim", minimum=1)
        self.num_layers = check_int(num_layers, "num_layers", minimum=1)
        self.normalize = bool(normalize)
        self.dense_layers = []
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            self.dense_layers.append(
                keras.layers.Dense(
                    self.output_dim if last else self.hidden_dim,
                    activation=None if last else "relu",
                    dtype="float32" if last else self.dtype_policy,
                    name=f"dense_{i + 1}",
                )
            )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = (*shape[:-1], layer.units)
        self.built = True

    def call(self, inputs):
        x = inputs
        for layer in self.dense_layers:
            x = layer(x)
        x = ops.cast(x, "float32")
        if self.normalize:
            x = x / ops.maximum(ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True)), 1e-12)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim,
                "output_dim": self.output_dim, "num_layers": self.num_layers,
                "normalize": self.normalize}
