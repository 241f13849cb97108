"""Post-hoc logit adjustment (Menon et al., ICLR 2021)."""

import keras
import numpy as np
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_class_counts, check_float


@kerasimb_export("kerasimb.layers.LogitAdjustment")
class LogitAdjustment(keras.layers.Layer):
    """Subtracts `tau * log(prior)` from logits: post-hoc logit adjustment (Menon et al., 2021).

    Put it on the logits of a model trained with plain cross-entropy to predict
    `argmax_y z_y - τ log π_y`, the balanced-error-optimal rule for `τ=1`, with the training prior
    π_j = n_j / Σ n. It has no weights; it computes in float32 and returns float32 logits.

    Args:
        class_counts: list of int, training examples per class.
        tau: float >= 0. Defaults to `1.0`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: logits `(batch, num_classes)`.

    Returns:
        Adjusted float32 logits, same shape.

    Example:

    >>> import numpy as np
    >>> layer = LogitAdjustment([3, 1], tau=1.0)
    >>> [round(float(v), 4) for v in layer(np.array([[0.0, 0.0]]))[0]]
    [0.2877, 1.3863]

    References:
        - [Menon et al., 2021](https://arxiv.org/abs/2007.07314)
    """

    def __init__(self, class_counts, tau=1.0, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.class_counts = check_class_counts(class_counts)
        self.tau = check_float(tau, "tau", minimum=0.0)
        counts = np.asarray(self.class_counts, np.float64)
        self._log_prior = np.log(counts / counts.sum()).astype(np.float32)

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] != len(self.class_counts):
            raise ValueError(
                f"Invalid value received for argument `inputs`. Expected {len(self.class_counts)} "
                f"logits, one per class of `class_counts`. Received: inputs with shape "
                f"{tuple(input_shape)}"
            )

    def call(self, inputs):
        logits = ops.cast(inputs, "float32")
        return logits - self.tau * ops.convert_to_tensor(self._log_prior, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts, "tau": self.tau}
