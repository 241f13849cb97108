"""Class-balanced loss (Cui et al., CVPR 2019): softmax, sigmoid and sigmoid-focal forms."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import (
    check_batch_sizes,
    PerExampleLoss,
    check_beta,
    check_gamma,
    check_num_classes,
    float32_logits,
    float32_sigmoid_logits,
    num_classes_of,
    soft_targets,
)
from kerasimb.losses.weights import class_weights as _class_weights
from kerasimb.utils.validation import check_choice, check_class_counts

LOSS_TYPES = ("softmax", "sigmoid", "focal")


@kerasimb_export("kerasimb.losses.class_balanced_loss", serializable=False)
def class_balanced_loss(
    y_true, y_pred, class_counts, beta=0.9999, loss_type="focal", gamma=2.0, from_logits=True
):
    """Per-example class-balanced loss (Cui et al., 2019).

    Each example of class y is weighted by the inverse effective number of samples,
    w_y ∝ (1 - β) / (1 - β^{n_y}), normalised so that the weights sum to the number of classes
    (`losses.class_weights(class_counts, "effective", beta)`); soft targets get
    `w = sum_c y_c w_c`. The three forms of the paper:

    - `"softmax"`: `-w_y log softmax(z)_y` (soft targets: `-sum_c w_c y_c log softmax(z)_c`).
    - `"sigmoid"`: `w · sum_i BCE(y_i, z_i)`, one sigmoid per class, summed over classes.
    - `"focal"`: `w · sum_i m_i · BCE(y_i, z_i)`, the sigmoid focal loss, with the numerically
      stable modulator `m_i = exp(-γ (y_i z_i + log(1 + exp(-z_i))))` (equal to
      `(1 - p_i^t)^γ`, computed with `softplus` so that it never overflows).

    Following the paper, sigmoid terms are summed over classes and averaged over examples (Cui
    et al.'s TensorFlow code divides the total by the number of labels, the same thing for
    single-label data; some PyTorch ports average over classes too, which divides the loss by
    the number of classes). `beta=0` gives unit weights (plain softmax / sigmoid / focal loss).

    Args:
        y_true: integer labels `(batch,)` / `(batch, 1)`, or one-hot / soft targets
            `(batch, num_classes)`.
        y_pred: logits `(batch, num_classes)`; with `from_logits=False`, softmax probabilities
            (`"softmax"`) or per-class sigmoid probabilities (`"sigmoid"`, `"focal"`).
        class_counts: list of int, training examples per class.
        beta: float in [0, 1). Defaults to `0.9999`.
        loss_type: `"softmax"`, `"sigmoid"` or `"focal"`. Defaults to `"focal"`.
        gamma: float >= 0. Focusing parameter of `"focal"`. Defaults to `2.0`.
        from_logits: bool. Defaults to `True`.

    Returns:
        Float32 tensor `(batch,)`.

    Raises:
        ValueError: bad `beta`, `gamma`, `loss_type` or `class_counts`, or mismatched shapes.

    Example:

    >>> loss = class_balanced_loss([0, 1], [[0.0, 0.0], [0.0, 0.0]], [3, 1], beta=0.5,
    ...                            loss_type="softmax")
    >>> [round(float(v), 4) for v in loss]
    [0.5041, 0.8822]

    References:
        - [Cui et al., 2019](https://arxiv.org/abs/1901.05555)
    """
    class_counts = check_class_counts(class_counts)
    beta = check_beta(beta)
    check_choice(loss_type, "loss_type", LOSS_TYPES)
    gamma = check_gamma(gamma)
    if loss_type == "softmax":
        logits = float32_logits(y_pred, from_logits)
    else:
        logits = float32_sigmoid_logits(y_pred, from_logits)
    num_classes = num_classes_of(logits)
    check_num_classes(num_classes, len(class_counts))
    check_batch_sizes(y_true, y_pred)
    targets = soft_targets(y_true, num_classes)
    weights = ops.convert_to_tensor(_class_weights(class_counts, "effective", beta), "float32")
    if loss_type == "softmax":
        log_p = ops.log_softmax(logits, axis=-1)
        return -ops.sum(targets * weights * log_p, axis=-1)
    sample_weights = ops.sum(targets * weights, axis=-1)
    # Stable binary cross-entropy with logits: max(z, 0) - z y + log(1 + exp(-|z|)).
    bce = ops.relu(logits) - logits * targets + ops.softplus(-ops.abs(logits))
    if loss_type == "focal":
        bce = ops.exp(-gamma * (targets * logits + ops.softplus(-logits))) * bce
    return sample_weights * ops.sum(bce, axis=-1)


@kerasimb_export("kerasimb.losses.ClassBalancedLoss")
class ClassBalancedLoss(PerExampleLoss):
    """Class-balanced loss (Cui et al., 2019): effective-number weights on softmax, sigmoid or
    sigmoid-focal loss.

    See `class_balanced_loss` for the three forms and their reduction. Computes in float32 under
    any mixed-precision policy.

    Args:
        class_counts: list of int, training examples per class.
        beta: float in [0, 1). Effective-number hyperparameter. Defaults to `0.9999`.
        loss_type: `"softmax"`, `"sigmoid"` or `"focal"`. Defaults to `"focal"`.
        gamma: float >= 0. Focusing parameter of `"focal"`. Defaults to `2.0`.
        from_logits: bool. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: str. Defaults to `"class_balanced_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> loss = ClassBalancedLoss([3, 1], beta=0.5, loss_type="softmax")
    >>> round(float(loss([0, 1], [[0.0, 0.0], [0.0, 0.0]])), 4)
    0.6931

    References:
        - [Cui et al., 2019](https://arxiv.org/abs/1901.05555)
    """

    loss_fn = staticmethod(class_balanced_loss)
    config_keys = ("class_counts", "beta", "loss_type", "gamma", "from_logits")

    def __init__(
        self,
        class_counts,
        beta=0.9999,
        loss_type="focal",
        gamma=2.0,
        from_logits=True,
        reduction="sum_over_batch_size",
        name="class_balanced_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.class_counts = check_class_counts(class_counts)
        self.beta = check_beta(beta)
        self.loss_type = check_choice(loss_type, "loss_type", LOSS_TYPES)
        self.gamma = check_gamma(gamma)
        self.from_logits = bool(from_logits)

    @property
    def class_weights(self):
        """The effective-number class weights, a list of floats summing to the class count."""
        return _class_weights(self.class_counts, "effective", self.beta)
