"""Softmax (multi-class) focal loss (Lin et al., ICCV 2017)."""

import numbers

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import (
    check_batch_sizes,
    PerExampleLoss,
    check_gamma,
    check_weights,
    float32_logits,
    focal_modulator,
    num_classes_of,
    soft_targets,
)
from kerasimb.utils.validation import check_float


def _check_alpha(alpha):
    """Returns `alpha` as `None`, a float >= 0 or a list of floats >= 0."""
    if alpha is None:
        return None
    if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        return check_float(alpha, "alpha", minimum=0.0)
    return check_weights(alpha, "alpha")


@kerasimb_export("kerasimb.losses.focal_loss", serializable=False)
def focal_loss(y_true, y_pred, gamma=2.0, alpha=None, from_logits=True):
    """Per-example softmax focal loss (Lin et al., 2017), multi-class form.

    FL = -sum_c alpha_c * y_c * (1 - p_c)**gamma * log(p_c), with `p = softmax(logits)`. For
    one-hot targets this is `-alpha_y (1 - p_y)**gamma log p_y`; soft targets weight every class's
    term by `y_c` (as `keras.losses.CategoricalFocalCrossentropy` does). `gamma=0` and
    `alpha=None` give softmax cross-entropy.

    The paper defines alpha for the binary (sigmoid) case, alpha for the positive class and
    1 - alpha for the negative; in this multi-class softmax form a scalar alpha scales every class
    and a list gives one weight per class.

    Computed in float32 from `log_softmax`, with `1 - p_c = -expm1(log p_c)` floored at 1e-30 so
    that the loss and its gradient stay finite for extreme logits and every `gamma >= 0`.

    Args:
        y_true: integer labels `(batch,)` / `(batch, 1)`, or one-hot / soft targets
            `(batch, num_classes)`.
        y_pred: logits `(batch, num_classes)` (probabilities with `from_logits=False`); any
            float dtype.
        gamma: float >= 0. Focusing parameter. Defaults to `2.0`.
        alpha: `None`, a float >= 0 (scales the loss) or a list of floats >= 0, one per class.
            Defaults to `None` (no weighting).
        from_logits: bool. Whether `y_pred` holds logits. Defaults to `True`.

    Returns:
        Float32 tensor `(batch,)`.

    Raises:
        ValueError: a negative `gamma` or `alpha`, or shapes that do not match.

    Example:

    >>> loss = focal_loss([0, 1], [[2.0, 0.0], [0.0, 0.0]], gamma=2.0)
    >>> [round(float(v), 4) for v in loss]
    [0.0018, 0.1733]

    References:
        - [Lin et al., 2017](https://arxiv.org/abs/1708.02002)
    """
    gamma = check_gamma(gamma)
    alpha = _check_alpha(alpha)
    logits = float32_logits(y_pred, from_logits)
    num_classes = num_classes_of(logits)
    check_batch_sizes(y_true, y_pred)
    targets = soft_targets(y_true, num_classes)
    log_p = ops.log_softmax(logits, axis=-1)
    terms = -targets * focal_modulator(log_p, gamma) * log_p
    if isinstance(alpha, list):
        if len(alpha) != num_classes:
            raise ValueError(
                f"Invalid value received for argument `alpha`. Expected {num_classes} entries, "
                f"one per class. Received: {len(alpha)} entries, alpha={alpha}"
            )
        terms = terms * ops.convert_to_tensor(alpha, "float32")
    loss = ops.sum(terms, axis=-1)
    if isinstance(alpha, float):
        loss = alpha * loss
    return loss


@kerasimb_export("kerasimb.losses.FocalLoss")
class FocalLoss(PerExampleLoss):
    """Softmax focal loss (Lin et al., 2017) for multi-class classification.

    Down-weights well-classified examples by `(1 - p_t)**gamma`; see `focal_loss` for the formula,
    the multi-class meaning of `alpha` and the numerical safeguards. Computes in float32 under any
    mixed-precision policy.

    Args:
        gamma: float >= 0. Focusing parameter; `0` gives cross-entropy. Defaults to `2.0`.
        alpha: `None`, a float >= 0 or a list of floats >= 0 (one per class). Defaults to `None`.
        from_logits: bool. Whether predictions are logits. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: str. Defaults to `"focal_loss"`.
        **kwargs: passed to `keras.losses.Loss` (e.g. `dtype`).

    Example:

    >>> loss = FocalLoss(gamma=2.0)
    >>> round(float(loss([0, 1], [[2.0, 0.0], [0.0, 0.0]])), 4)
    0.0875

    References:
        - [Lin et al., 2017](https://arxiv.org/abs/1708.02002)
    """

    loss_fn = staticmethod(focal_loss)
    config_keys = ("gamma", "alpha", "from_logits")

    def __init__(
        self,
        gamma=2.0,
        alpha=None,
        from_logits=True,
        reduction="sum_over_batch_size",
        name="focal_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.gamma = check_gamma(gamma)
        self.alpha = _check_alpha(alpha)
        self.from_logits = bool(from_logits)
