"""Margin loss (Sabour et al., NIPS 2017) with class weights: the "weighted margin loss" of
QuadSNet (Ali, Ali and Hussain, IJACSA 2021).

Two forms (`form`):

- `"squared_hinge"` (the default): Sabour et al.'s loss, which QuadSNet's paper names as the
  one it adopts (its reference [28]): T_k max(0, m+ - p_k)^2 + lambda (1 - T_k) max(0, p_k - m-)^2.
- `"printed"`: QuadSNet's Eq. 2 exactly as printed, with the square on the score inside a plain
  hinge: T_k max(0, m+ - p_k^2) + lambda (1 - T_k) max(0, p_k^2 - m-).

The default is Sabour's because the paper adopts that loss by citation and describes no change
to it (the printed Eq. 2 reads like the squared length ||v||^2 moved inside the hinge), because
the squared hinge is smooth at the margin where the printed one has a kink, and because the
library's published QuadSNet figures were measured with it; `form="printed"` is there to test
the other reading.
"""

import numpy as np
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.weights import class_weights as _class_weights
from kerasimb.losses.common import (PerExampleLoss, check_batch_sizes, check_weights,
                                    soft_targets)
from kerasimb.utils.validation import check_choice, check_class_counts, check_float

SCORES = ("sigmoid", "softmax")
WEIGHT_MODES = ("example", "class")
FORMS = ("squared_hinge", "printed")


@kerasimb_export("kerasimb.losses.margin_loss", serializable=False)
def margin_loss(
    y_true,
    y_pred,
    m_plus=0.9,
    m_minus=0.1,
    down_weight=0.5,
    class_weights=None,
    score="sigmoid",
    from_logits=True,
    weight_mode="example",
    form="squared_hinge",
):
    """Per-example (weighted) margin loss.

    L = sum_k T_k * max(0, m+ - p_k)^2 + lambda * (1 - T_k) * max(0, p_k - m-)^2, with T the
    one-hot (or soft) target, p_k the score of class k, m+ = `m_plus`, m- = `m_minus` and
    lambda = `down_weight` (Sabour et al., 2017, where p_k is a capsule's length); with
    `form="printed"`, L = sum_k T_k * max(0, m+ - p_k^2) + lambda * (1 - T_k) *
    max(0, p_k^2 - m-), QuadSNet's Eq. 2 as printed (see the module docstring).

    Class score: capsule lengths are per-class values in [0, 1] that do not compete, so the
    default is `score="sigmoid"` (p_k = sigmoid(z_k), each class scored independently);
    `score="softmax"` uses p = softmax(z), where the scores sum to 1 (QuadSNet's paper does not
    say which it uses). With `from_logits=False`, `y_pred` already holds the scores in [0, 1].

    Class weights w_k ("weighted margin loss"): with `weight_mode="example"` (the default, the
    usual class re-weighting) an example's whole loss is multiplied by sum_k T_k w_k, i.e. by
    the weight of its true class for one-hot targets; with `weight_mode="class"` each class's term
    is weighted instead, L = sum_k w_k * (...)_k.

    Computed in float32 whatever the input dtype.

    Args:
        y_true: integer labels `(batch,)` / `(batch, 1)`, or one-hot / soft targets
            `(batch, num_classes)`.
        y_pred: logits `(batch, num_classes)` (scores in [0, 1] with `from_logits=False`).
        m_plus: float in [0, 1]. Present-class margin. Defaults to `0.9`.
        m_minus: float in [0, 1]. Absent-class margin. Defaults to `0.1`.
        down_weight: float >= 0. lambda, the weight of the absent-class terms. Defaults to `0.5`.
        class_weights: `None` or a list of floats >= 0, one per class. Defaults to `None`.
        score: `"sigmoid"` or `"softmax"`. How logits become class scores. Defaults to
            `"sigmoid"`.
        from_logits: bool. Whether `y_pred` holds logits. Defaults to `True`.
        weight_mode: `"example"` or `"class"` (see above). Defaults to `"example"`.
        form: `"squared_hinge"` or `"printed"` (see above). Defaults to `"squared_hinge"`.

    Returns:
        Float32 tensor `(batch,)`.

    Raises:
        ValueError: a bad argument value, or shapes that do not match.

    Example:

    >>> import numpy as np
    >>> loss = margin_loss(np.array([1]), np.array([[0.0, 0.0]]))  # both scores 0.5
    >>> round(float(loss[0]), 4)  # (0.9 - 0.5)**2 + 0.5 * (0.5 - 0.1)**2
    0.24
    >>> loss = margin_loss(np.array([1]), np.array([[0.0, 0.0]]), form="printed")
    >>> round(float(loss[0]), 4)  # (0.9 - 0.25) + 0.5 * (0.25 - 0.1)
    0.725
    """
    m_plus = check_float(m_plus, "m_plus", 0.0, 1.0)
    m_minus = check_float(m_minus, "m_minus", 0.0, 1.0)
    down_weight = check_float(down_weight, "down_weight", minimum=0.0)
    check_choice(score, "score", SCORES)
    check_choice(weight_mode, "weight_mode", WEIGHT_MODES)
    check_choice(form, "form", FORMS)
    class_weights = check_weights(class_weights)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if len(y_pred.shape) != 2 or y_pred.shape[-1] is None:
        raise ValueError(
            "Invalid value received for argument `y_pred`. Expected a tensor of shape "
            f"(batch, num_classes). Received: y_pred with shape {tuple(y_pred.shape)}"
        )
    num_classes = int(y_pred.shape[-1])
    check_batch_sizes(y_true, y_pred)
    targets = soft_targets(y_true, num_classes)
    if from_logits:
        p = ops.sigmoid(y_pred) if score == "sigmoid" else ops.softmax(y_pred, axis=-1)
    else:
        p = y_pred
    if form == "squared_hinge":
        present = targets * ops.square(ops.relu(m_plus - p))
        absent = down_weight * (1.0 - targets) * ops.square(ops.relu(p - m_minus))
    else:
        present = targets * ops.relu(m_plus - ops.square(p))
        absent = down_weight * (1.0 - targets) * ops.relu(ops.square(p) - m_minus)
    terms = present + absent
    if class_weights is None:
        return ops.sum(terms, axis=-1)
    if len(class_weights) != num_classes:
        raise ValueError(
            f"Invalid value received for argument `class_weights`. Expected {num_classes} "
            f"entries, one per class of `y_pred`. Received: {len(class_weights)} entries"
        )
    w = ops.convert_to_tensor(np.asarray(class_weights, np.float32))
    if weight_mode == "class":
        return ops.sum(terms * w, axis=-1)
    return ops.sum(targets * w, axis=-1) * ops.sum(terms, axis=-1)


@kerasimb_export("kerasimb.losses.MarginLoss")
class MarginLoss(PerExampleLoss):
    """Weighted margin loss, the training loss of QuadSNet (Ali, Ali and Hussain, 2021).

    Per example, sum_k T_k max(0, m+ - p_k)^2 + lambda (1 - T_k) max(0, p_k - m-)^2 (Sabour et
    al., 2017), with class weights; see `margin_loss` for the class score (`"sigmoid"` by
    default, `"softmax"` offered) and for how the weights apply (`weight_mode`).

    Class weights: pass them as `class_weights`, or pass the training `class_counts` and they
    are computed with `kerasimb.losses.class_weights(class_counts, weighting)`, inverse
    frequency by default (normalised to sum to the number of classes). Not both.

    Args:
        m_plus: float in [0, 1]. Defaults to `0.9`.
        m_minus: float in [0, 1]. Defaults to `0.1`.
        down_weight: float >= 0. lambda. Defaults to `0.5`.
        class_weights: `None` or list of floats >= 0, one per class. Defaults to `None`.
        class_counts: `None` or list of ints, training examples per class. Defaults to `None`.
        weighting: `"inverse"`, `"sqrt_inverse"` or `"effective"`: how `class_counts` become
            weights. Defaults to `"inverse"`.
        score: `"sigmoid"` or `"softmax"`. Defaults to `"sigmoid"`.
        from_logits: bool. Defaults to `True`.
        weight_mode: `"example"` or `"class"`. Defaults to `"example"`.
        form: `"squared_hinge"` (Sabour et al.'s, the default) or `"printed"` (QuadSNet's Eq. 2
            as printed); see `margin_loss`. Defaults to `"squared_hinge"`.
        name: str. Defaults to `"margin_loss"`.
        **kwargs: passed to `keras.losses.Loss` (e.g. `reduction`).

    Raises:
        ValueError: both `class_weights` and `class_counts`, or a bad value.

    Example:

    >>> import numpy as np
    >>> loss = MarginLoss(class_counts=[3, 1])  # weights [0.5, 1.5]
    >>> round(float(loss(np.array([1]), np.array([[0.0, 0.0]]))), 4)  # 1.5 * 0.24
    0.36
    """

    loss_fn = staticmethod(margin_loss)
    config_keys = ("m_plus", "m_minus", "down_weight", "class_weights", "class_counts",
                   "weighting", "score", "from_logits", "weight_mode", "form")

    def __init__(
        self,
        m_plus=0.9,
        m_minus=0.1,
        down_weight=0.5,
        class_weights=None,
        class_counts=None,
        weighting="inverse",
        score="sigmoid",
        from_logits=True,
        weight_mode="example",
        form="squared_hinge",
        name="margin_loss",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.m_plus = check_float(m_plus, "m_plus", 0.0, 1.0)
        self.m_minus = check_float(m_minus, "m_minus", 0.0, 1.0)
        self.down_weight = check_float(down_weight, "down_weight", minimum=0.0)
        self.score = check_choice(score, "score", SCORES)
        self.weight_mode = check_choice(weight_mode, "weight_mode", WEIGHT_MODES)
        self.form = check_choice(form, "form", FORMS)
        self.weighting = check_choice(weighting, "weighting", ("inverse", "sqrt_inverse", "effective"))
        self.from_logits = bool(from_logits)
        if class_weights is not None and class_counts is not None:
            raise ValueError(
                "Expected at most one of `class_weights` and `class_counts`. Received: "
                f"class_weights={class_weights!r}, class_counts={class_counts!r}"
            )
        self.class_weights = check_weights(class_weights)
        self.class_counts = None if class_counts is None else check_class_counts(class_counts)
        if self.class_counts is not None:
            self._weights = _class_weights(self.class_counts, self.weighting)
        else:
            self._weights = self.class_weights

    @property
    def effective_class_weights(self):
        """The per-class weights the loss applies (a list of floats), or `None`."""
        return None if self._weights is None else list(self._weights)

    def loss_arguments(self):
        # `class_counts` and `weighting` are already folded into the weights the loss applies.
        arguments = super().loss_arguments()
        del arguments["class_counts"], arguments["weighting"]
        return {**arguments, "class_weights": self._weights}
