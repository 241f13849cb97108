"""The streaming confusion matrix that every classification metric in kerasimb is computed from."""

import inspect

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_int


def _static_shape(x, name):
    try:
        return tuple(x.shape)
    except ValueError:  # unknown rank
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a tensor of known rank. "
            f"Received: {name} of unknown rank"
        ) from None


def _is_concrete(x):
    """True for eager tensors (values readable now), False inside a traced function."""
    return hasattr(x, "numpy")


@kerasimb_export("kerasimb.metrics.ConfusionMatrixMetric")
class ConfusionMatrixMetric(keras.metrics.Metric):
    """Accumulates a weighted multi-class confusion matrix over batches.

    This is the base class of every streaming classification metric in kerasimb
    (`BalancedAccuracy`, `MacroF1`, `MatthewsCorrelation`, `QuadraticKappa`,
    `SmallestClassRecall`): it owns one state variable, `confusion_matrix`, of shape
    `(num_classes, num_classes)` whose entry `[i, j]` is the (weighted) number of examples of
    true class `i` predicted as class `j`. Subclasses only override `result()`. Used on its own,
    `result()` returns the matrix itself (in `model.compile`, `evaluate(..., return_dict=True)`
    returns the matrix; the progress bar shows its mean).

    Labels and predictions are reduced to class indices:

    - `y_true` is either integer labels of shape `(batch,)` or `(batch, 1)`, or one-hot / soft
      labels of shape `(batch, num_classes)`, which count as their argmax (so a MixUp target
      `0.7 * a + 0.3 * b` counts as class `a`).
    - `y_pred` is logits or probabilities of shape `(batch, num_classes)`; the argmax is the
      prediction either way.

    `sample_weight` (shape `(batch,)`, `(batch, 1)` or a scalar) weights each example's
    contribution to its row. Everything uses `keras.ops`, so the metric runs inside a compiled
    train step, under XLA and with `float16` predictions from a mixed-precision model.
    Integer labels outside `[0, num_classes)` raise a `ValueError` when the values can be read
    (eager execution); inside a compiled function they cannot be checked and add nothing to the
    matrix, so validate labels in the input pipeline.

    Args:
        num_classes: int >= 2. Number of classes.
        name: str. Name of the metric. Defaults to `"confusion_matrix"`.
        dtype: str or `None`. Dtype of the state and of the result. Defaults to `None`, which
            means `keras.backend.floatx()` (`"float32"`). Counts stay exact up to 2**24 examples
            in `float32`; use `"float64"` for more.

    Example:

    >>> import kerasimb
    >>> m = kerasimb.metrics.ConfusionMatrixMetric(num_classes=3)
    >>> m.update_state(
    ...     [0, 0, 1, 2],
    ...     [[2.0, 0.1, 0.3], [0.2, 1.5, 0.1], [0.1, 3.0, 0.2], [0.0, 0.4, 0.1]],
    ... )
    >>> m.result().numpy().tolist()
    [[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    """

    def __init__(self, num_classes, name="confusion_matrix", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = check_int(num_classes, "num_classes", minimum=2)
        self.confusion_matrix = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype=self.dtype,
            name="confusion_matrix",
        )

    # --- update -----------------------------------------------------------------------------

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds one batch to the confusion matrix.

        Args:
            y_true: integer labels `(batch,)` or `(batch, 1)`, or one-hot / soft labels
                `(batch, num_classes)`.
            y_pred: logits or probabilities `(batch, num_classes)`.
            sample_weight: `None`, a scalar, or per-example weights `(batch,)` / `(batch, 1)`.
                Defaults to `None` (every example weighs 1).
        """
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        true_index = self._true_indices(y_true)
        pred_index = self._pred_indices(y_pred)
        true_batch = _static_shape(y_true, "y_true")[0]
        pred_batch = _static_shape(y_pred, "y_pred")[0]
        if true_batch is not None and pred_batch is not None and true_batch != pred_batch:
            raise ValueError(
                "Expected `y_true` and `y_pred` to hold the same number of examples. "
                f"Received: y_true with shape {tuple(y_true.shape)} and y_pred with shape "
                f"{tuple(y_pred.shape)}"
            )
        true_onehot = ops.one_hot(true_index, self.num_classes, dtype=self.dtype)
        pred_onehot = ops.one_hot(pred_index, self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            weights = self._weights(sample_weight, true_index, true_batch)
            true_onehot = true_onehot * ops.expand_dims(weights, -1)
        self.confusion_matrix.assign_add(ops.matmul(ops.transpose(true_onehot), pred_onehot))

    def _true_indices(self, y_true):
        shape = _static_shape(y_true, "y_true")
        if len(shape) == 2 and shape[-1] == self.num_classes:
            return ops.cast(ops.argmax(y_true, axis=-1), "int32")
        if len(shape) == 1 or (len(shape) == 2 and shape[-1] == 1):
            labels = ops.reshape(y_true, (-1,))
            if _is_concrete(labels):
                self._check_label_values(ops.convert_to_numpy(labels))
            return ops.cast(labels, "int32")
        raise ValueError(
            "Invalid value received for argument `y_true`. Expected integer labels of shape "
            "(batch,) or (batch, 1), or one-hot / soft labels of shape "
            f"(batch, {self.num_classes}) for num_classes={self.num_classes}. "
            f"Received: y_true with shape {shape}"
        )

    def _check_label_values(self, labels):
        if labels.size == 0:
            return
        if labels.dtype.kind == "f":
            bad = ~((labels == labels.round()) & (labels == labels))  # non-integer or NaN
            if bad.any():
                raise ValueError(
                    "Invalid value received for argument `y_true`. Expected integer-valued "
                    f"labels. Received: {labels[bad][:5].tolist()}"
                )
        low, high = labels.min(), labels.max()
        if low < 0 or high >= self.num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                "Invalid value received for argument `y_true`. Expected labels in "
                f"[0, {self.num_classes - 1}] for num_classes={self.num_classes}. "
                f"Received: label {bad.item()}"
            )

    def _pred_indices(self, y_pred):
        shape = _static_shape(y_pred, "y_pred")
        if len(shape) != 2 or shape[-1] != self.num_classes:
            raise ValueError(
                "Invalid value received for argument `y_pred`. Expected logits or probabilities "
                f"of shape (batch, {self.num_classes}) for num_classes={self.num_classes}. "
                f"Received: y_pred with shape {shape}"
            )
        return ops.cast(ops.argmax(y_pred, axis=-1), "int32")

    def _weights(self, sample_weight, true_index, batch):
        weights = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
        shape = _static_shape(weights, "sample_weight")
        if len(shape) == 0:
            return ops.broadcast_to(weights, ops.shape(true_index))
        if len(shape) == 2 and shape[-1] == 1:
            weights = ops.reshape(weights, (-1,))
        elif len(shape) != 1:
            raise ValueError(
                "Invalid value received for argument `sample_weight`. Expected a scalar or "
                "per-example weights of shape (batch,) or (batch, 1). "
                f"Received: sample_weight with shape {shape}"
            )
        if shape[0] is not None and batch is not None and shape[0] != batch:
            raise ValueError(
                "Invalid value received for argument `sample_weight`. Expected one weight per "
                f"example ({batch}). Received: sample_weight with shape {shape}"
            )
        return weights

    # --- result -----------------------------------------------------------------------------

    def _counts(self):
        """Returns `(matrix, true_positives, true_totals, predicted_totals)` of the state."""
        matrix = ops.convert_to_tensor(self.confusion_matrix)
        return (
            matrix,
            ops.diagonal(matrix),
            ops.sum(matrix, axis=1),
            ops.sum(matrix, axis=0),
        )

    def result(self):
        return ops.convert_to_tensor(self.confusion_matrix)

    def reset_state(self):
        self.confusion_matrix.assign(ops.zeros(self.confusion_matrix.shape, dtype=self.dtype))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


# The part of a streaming metric's docstring that every subclass shares: its constructor
# arguments (those of `ConfusionMatrixMetric`, with its own default name) and an example on one
# batch, the same in every metric's docstring so that their values can be compared.
SHARED_DOCSTRING = """Accepts the labels, predictions and sample weights described in `ConfusionMatrixMetric`.

    Args:
        num_classes: int >= 2. Number of classes.
        name: str. Name of the metric. Defaults to `"{name}"`.
        dtype: str or `None`. Dtype of the state and of the result. Defaults to `None`
            (`keras.backend.floatx()`).

    Example:

    >>> import kerasimb
    >>> m = kerasimb.metrics.{cls}(num_classes=3)
    >>> m.update_state(
    ...     [0, 0, 1, 2],
    ...     [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
    ... )
    >>> round(float(m.result()), 4)
    {result}"""


def shared_docstring(result):
    """Class decorator: replaces `{shared}` in a `ConfusionMatrixMetric` subclass's docstring with
    `SHARED_DOCSTRING` for that class; `result` is the example's printed value."""

    def decorate(cls):
        name = inspect.signature(cls.__init__).parameters["name"].default
        shared = SHARED_DOCSTRING.format(name=name, cls=cls.__name__, result=result)
        cls.__doc__ = cls.__doc__.replace("{shared}", shared)
        return cls

    return decorate
