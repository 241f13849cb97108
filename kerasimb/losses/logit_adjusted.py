"""Logit-adjusted softmax cross-entropy (Menon et al., ICLR 2021); τ=1 is balanced softmax."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import (
    check_batch_sizes,
    PerExampleLoss,
    check_num_classes,
    float32_logits,
    log_prior,
    num_classes_of,
    soft_targets,
)
from kerasimb.utils.validation import check_class_counts, check_float


@kerasimb_export("kerasimb.losses.logit_adjusted_loss", serializable=False)
def logit_adjusted_loss(y_true, y_pred, class_counts, tau=1.0, from_logits=True):
    """Per-example logit-adjusted cross-entropy (Menon et al., 2021).

    L = -sum_c y_c log softmax(z + τ log π)_c, with the training prior π_j = n_j / Σ n. Adding the
    log prior inside the softmax during training makes the raw logits `z` estimate the balanced
    (class-prior-free) posterior, so they are used as they are at test time. `τ=1` is the balanced
    softmax of Ren et al. (NeurIPS 2020); `τ=0` is plain cross-entropy.

    Args:
        y_true: integer labels `(batch,)` / `(batch, 1)`, or one-hot / soft targets
            `(batch, num_classes)`.
        y_pred: logits `(batch, num_classes)` (probabilities with `from_logits=False`).
        class_counts: list of int, training examples per class.
        tau: float >= 0. Temperature of the adjustment. Defaults to `1.0`.
        from_logits: bool. Defaults to `True`.

    Returns:
        Float32 tensor `(batch,)`.

    Raises:
        ValueError: a negative `tau`, bad `class_counts` or mismatched shapes.

    Example:

    >>> loss = logit_adjusted_loss([0, 1], [[0.0, 0.0], [0.0, 0.0]], [3, 1], tau=1.0)
    >>> [round(float(v), 4) for v in loss]
    [0.2877, 1.3863]

    References:
        - [Menon et al., 2021](https://arxiv.org/abs/2007.07314)
        - [Ren et al., 2020](https://arxiv.org/abs/2007.10740)
    """
    prior = log_prior(class_counts)
    tau = check_float(tau, "tau", minimum=0.0)
    logits = float32_logits(y_pred, from_logits)
    num_classes = num_classes_of(logits)
    check_num_classes(num_classes, len(prior))
    check_batch_sizes(y_true, y_pred)
    targets = soft_targets(y_true, num_classes)
    adjusted = logits + tau * ops.convert_to_tensor(prior, "float32")
    return -ops.sum(targets * ops.log_softmax(adjusted, axis=-1), axis=-1)


@kerasimb_export("kerasimb.losses.LogitAdjustedLoss")
class LogitAdjustedLoss(PerExampleLoss):
    """Logit-adjusted cross-entropy (Menon et al., 2021); `tau=1` is balanced softmax.

    Trains with `softmax(z + τ log π)` so that the model's own logits `z` are balanced at test
    time (no adjustment at inference). For the post-hoc variant, train with plain cross-entropy
    and put a `layers.LogitAdjustment` on the logits at inference. Computes in float32 under any
    mixed-precision policy.

    Args:
        class_counts: list of int, training examples per class.
        tau: float >= 0. Defaults to `1.0`.
        from_logits: bool. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: str. Defaults to `"logit_adjusted_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> loss = LogitAdjustedLoss([3, 1], tau=1.0)
    >>> round(float(loss([0, 1], [[0.0, 0.0], [0.0, 0.0]])), 4)
    0.837

    References:
        - [Menon et al., 2021](https://arxiv.org/abs/2007.07314)
    """

    loss_fn = staticmethod(logit_adjusted_loss)
    config_keys = ("class_counts", "tau", "from_logits")

    def __init__(
        self,
        class_counts,
        tau=1.0,
        from_logits=True,
        reduction="sum_over_batch_size",
        name="logit_adjusted_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.class_counts = check_class_counts(class_counts)
        self.tau = check_float(tau, "tau", minimum=0.0)
        self.from_logits = bool(from_logits)
