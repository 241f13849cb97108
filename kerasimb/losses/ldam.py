"""Label-distribution-aware margin (LDAM) loss (Cao et al., NeurIPS 2019)."""

import numpy as np
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import (
    check_batch_sizes,
    ClassWeightsMixin,
    PerExampleLoss,
    check_num_classes,
    check_weights,
    float32_logits,
    num_classes_of,
    soft_targets,
)
from kerasimb.utils.validation import check_class_counts, check_float


@kerasimb_export("kerasimb.losses.ldam_margins", serializable=False)
def ldam_margins(class_counts, max_margin=0.5):
    """Per-class LDAM margins: Δ_j ∝ n_j^(-1/4), rescaled so that the largest is `max_margin`.

    Args:
        class_counts: list of int, training examples per class.
        max_margin: float > 0. The margin of the rarest class. Defaults to `0.5`.

    Returns:
        List of float, one per class.

    Example:

    >>> ldam_margins([16, 1], max_margin=0.5)
    [0.25, 0.5]
    """
    counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    max_margin = check_float(max_margin, "max_margin", minimum=0.0, min_inclusive=False)
    margins = counts ** -0.25
    return [round(float(m), 12) for m in margins * (max_margin / margins.max())]


@kerasimb_export("kerasimb.losses.ldam_loss", serializable=False)
def ldam_loss(
    y_true, y_pred, class_counts, max_margin=0.5, scale=30.0, class_weights=None, from_logits=True
):
    """Per-example LDAM loss (Cao et al., 2019).

    L = -w_y log softmax(s · (z - Δ ⊙ y))_y: the margin Δ_y = `ldam_margins(...)[y]` is subtracted
    from the target logit only, then the logits are multiplied by `scale` (s) and passed to softmax
    cross-entropy. `z` is meant to be a cosine similarity in [-1, 1] (`layers.CosineClassifier`).
    Soft targets subtract `y_c Δ_c` from every logit and use `-sum_c y_c log softmax(·)_c` with
    weight `sum_c y_c w_c`; for one-hot targets this is the paper's loss.

    Class weights multiply each example's loss (`w_y · L`), and the batch loss is their mean (the
    authors' PyTorch code instead divides by the sum of the batch's weights, `F.cross_entropy`'s
    weighted mean; with weights normalised to sum to the class count the two differ by a
    batch-dependent factor).

    Args:
        y_true: integer labels `(batch,)` / `(batch, 1)`, or one-hot / soft targets
            `(batch, num_classes)`.
        y_pred: logits `(batch, num_classes)` (probabilities with `from_logits=False`).
        class_counts: list of int, training examples per class.
        max_margin: float > 0. Margin of the rarest class. Defaults to `0.5`.
        scale: float > 0. Multiplies the margin-adjusted logits. Defaults to `30.0`.
        class_weights: `None`, a list of floats or a float tensor/variable `(num_classes,)`.
            Defaults to `None` (unweighted).
        from_logits: bool. Defaults to `True`.

    Returns:
        Float32 tensor `(batch,)`.

    Raises:
        ValueError: non-positive `max_margin` or `scale`, bad `class_counts` or mismatched shapes.

    Example:

    >>> loss = ldam_loss([0, 1], [[0.0, 0.0], [0.0, 0.0]], [16, 1], max_margin=0.5, scale=1.0)
    >>> [round(float(v), 4) for v in loss]
    [0.8259, 0.9741]

    References:
        - [Cao et al., 2019](https://arxiv.org/abs/1906.07413)
    """
    margins = ldam_margins(class_counts, max_margin)
    scale = check_float(scale, "scale", minimum=0.0, min_inclusive=False)
    logits = float32_logits(y_pred, from_logits)
    num_classes = num_classes_of(logits)
    check_num_classes(num_classes, len(margins))
    check_batch_sizes(y_true, y_pred)
    targets = soft_targets(y_true, num_classes)
    adjusted = scale * (logits - targets * ops.convert_to_tensor(margins, "float32"))
    loss = -ops.sum(targets * ops.log_softmax(adjusted, axis=-1), axis=-1)
    if class_weights is None:
        return loss
    if isinstance(class_weights, (list, tuple, np.ndarray)):
        class_weights = check_weights(class_weights, "class_weights", num_classes)
    weights = ops.cast(ops.convert_to_tensor(class_weights), "float32")
    return ops.sum(targets * weights, axis=-1) * loss


@kerasimb_export("kerasimb.losses.LDAMLoss")
class LDAMLoss(ClassWeightsMixin, PerExampleLoss):
    """LDAM loss (Cao et al., 2019): class-dependent margins Δ_j ∝ n_j^(-1/4) on the target logit.

    Meant to sit on a `layers.CosineClassifier` (logits are cosines in [-1, 1], `scale` makes them
    sharp). See `ldam_loss` for the formula. The class weights live in a non-trainable float32
    `keras.Variable`; `set_class_weights(weights)` changes them during training without
    recompiling, which is how `callbacks.DeferredReweighting` implements LDAM-DRW. Computes in
    float32 under any mixed-precision policy.

    Args:
        class_counts: list of int, training examples per class.
        max_margin: float > 0. Margin of the rarest class. Defaults to `0.5`.
        scale: float > 0. Logit scale `s`. Defaults to `30.0`.
        class_weights: `None` or list of floats >= 0, one per class. Defaults to `None`.
        from_logits: bool. Defaults to `True`.
        reduction: Keras reduction. Defaults to `"sum_over_batch_size"`.
        name: str. Defaults to `"ldam_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> loss = LDAMLoss([16, 1], max_margin=0.5, scale=1.0)
    >>> round(float(loss([0, 1], [[0.0, 0.0], [0.0, 0.0]])), 4)
    0.9
    >>> loss.set_class_weights([0.5, 1.5])
    >>> round(float(loss([0, 1], [[0.0, 0.0], [0.0, 0.0]])), 4)
    0.937

    References:
        - [Cao et al., 2019](https://arxiv.org/abs/1906.07413)
    """

    loss_fn = staticmethod(ldam_loss)
    config_keys = ("class_counts", "max_margin", "scale", "class_weights", "from_logits")

    def __init__(
        self,
        class_counts,
        max_margin=0.5,
        scale=30.0,
        class_weights=None,
        from_logits=True,
        reduction="sum_over_batch_size",
        name="ldam_loss",
        **kwargs,
    ):
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.class_counts = check_class_counts(class_counts)
        self.max_margin = check_float(max_margin, "max_margin", minimum=0.0, min_inclusive=False)
        self.scale = check_float(scale, "scale", minimum=0.0, min_inclusive=False)
        self.from_logits = bool(from_logits)
        self._init_class_weights(class_weights, len(self.class_counts))

    @property
    def margins(self):
        """The per-class margins, a list of floats."""
        return ldam_margins(self.class_counts, self.max_margin)

    def loss_arguments(self):
        # Pass the weights variable (all ones until set), not the `class_weights` list read from
        # it, so that a train step traced before `set_class_weights` still sees the new weights.
        arguments = {key: getattr(self, key) for key in self.config_keys if key != "class_weights"}
        return {**arguments, "class_weights": self._class_weights}
