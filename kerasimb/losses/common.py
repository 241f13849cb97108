"""Helpers shared by the imbalance losses: targets, float32 logits, weight variables, and the
base class that turns a per-example loss function into a Keras loss."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasimb.utils.validation import check_class_counts, check_float

# Smallest value `1 - p` may take inside a focal modulator: keeps `(1 - p)**gamma` and its
# gradient finite when `p` rounds to 1 (`0**(gamma - 1)` is inf for gamma < 1).
_MODULATOR_FLOOR = 1e-30
# Probabilities are clipped to [_EPSILON, 1] before taking logs when `from_logits=False`.
_EPSILON = 1e-7


def _float32_matrix(y_pred):
    """Returns `y_pred` cast to float32, refusing anything but a `(batch, num_classes)` tensor."""
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if len(y_pred.shape) != 2:
        raise ValueError(
            "Invalid value received for argument `y_pred`. Expected a tensor of shape "
            f"(batch, num_classes). Received: y_pred with shape {tuple(y_pred.shape)}"
        )
    return y_pred


def float32_logits(y_pred, from_logits=True):
    """Returns `y_pred` as float32 logits `(batch, num_classes)`.

    With `from_logits=False`, `y_pred` holds softmax probabilities and their clipped logarithm is
    returned (a valid set of logits: `softmax(log p) = p` for normalised `p`).
    """
    y_pred = _float32_matrix(y_pred)
    if from_logits:
        return y_pred
    return ops.log(ops.clip(y_pred, _EPSILON, 1.0))


def float32_sigmoid_logits(y_pred, from_logits=True):
    """Returns float32 logits; with `from_logits=False`, `y_pred` holds per-class sigmoid
    probabilities and their clipped log-odds are returned."""
    y_pred = _float32_matrix(y_pred)
    if from_logits:
        return y_pred
    p = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
    return ops.log(p) - ops.log1p(-p)


def check_batch_sizes(y_true, y_pred, true_name="y_true", pred_name="y_pred"):
    """Raises `ValueError` naming both arguments and shapes when the targets and predictions
    have a different known number of examples (first dimension); a dimension unknown when the
    step is traced (`None`) is not checked.

    >>> check_batch_sizes(np.zeros(5), np.zeros((4, 3)))
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for arguments `y_true` and `y_pred`. Expected the same number of examples in both (the first dimension). Received: y_true with shape (5,) and y_pred with shape (4, 3)
    """
    true_shape, pred_shape = _static_shape(y_true), _static_shape(y_pred)
    if not true_shape or not pred_shape:
        return
    a, b = true_shape[0], pred_shape[0]
    if a is not None and b is not None and a != b:
        raise ValueError(
            f"Invalid value received for arguments `{true_name}` and `{pred_name}`. Expected the "
            "same number of examples in both (the first dimension). Received: "
            f"{true_name} with shape {_shape(true_shape)} and {pred_name} with shape "
            f"{_shape(pred_shape)}"
        )


def _static_shape(x):
    """The shape known without running anything: a tuple of ints and `None`s."""
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    if getattr(shape, "rank", 0) is None:  # a tf.TensorShape of unknown rank
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def _shape(shape):
    return tuple(shape)


def soft_targets(y_true, num_classes):
    """Returns float32 targets `(batch, num_classes)` from integer labels or one-hot/soft targets.

    Integer labels have shape `(batch,)` or `(batch, 1)` (any dtype; `Loss.__call__` casts them to
    float); anything of shape `(batch, num_classes)` is taken as one-hot or soft targets.
    """
    y_true = ops.convert_to_tensor(y_true)
    shape = tuple(y_true.shape)
    if len(shape) == 1 or (len(shape) == 2 and shape[-1] == 1 and num_classes != 1):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if tf.executing_eagerly():  # concrete labels: refuse what one_hot would silently zero
            values = ops.convert_to_numpy(labels)
            bad = values[(values < 0) | (values >= num_classes)]
            if bad.size:
                raise ValueError(
                    "Invalid value received for argument `y_true`. Expected integer labels in "
                    f"[0, {num_classes - 1}]. Received: label {int(bad[0])}"
                )
        return ops.one_hot(labels, num_classes, dtype="float32")
    if len(shape) == 2 and (shape[-1] is None or shape[-1] == num_classes):
        return ops.cast(y_true, "float32")
    raise ValueError(
        "Invalid value received for argument `y_true`. Expected integer labels of shape (batch,) "
        f"or (batch, 1), or one-hot / soft targets of shape (batch, {num_classes}). Received: "
        f"y_true with shape {shape}"
    )


def num_classes_of(logits):
    num_classes = logits.shape[-1]
    if num_classes is None:
        raise ValueError(
            "Invalid value received for argument `y_pred`. Expected a known number of classes "
            f"(last dimension). Received: y_pred with shape {tuple(logits.shape)}"
        )
    return int(num_classes)


def check_num_classes(num_classes, expected, name="class_counts"):
    if num_classes != expected:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected {num_classes} entries, one "
            f"per class of `y_pred`. Received: {expected} entries"
        )


def check_weights(weights, name="class_weights", num_classes=None):
    """Returns per-class weights as a list of finite non-negative floats (or `None`)."""
    if weights is None:
        return None
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a list of floats, one per "
            f"class. Received: {name}={weights!r}"
        )
    values = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or values.size < 1 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a flat list of finite floats "
            f">= 0, one per class. Received: {name}={list(np.asarray(weights).tolist())!r}"
        )
    if num_classes is not None and values.size != num_classes:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected {num_classes} entries, one "
            f"per class. Received: {values.size} entries, {name}={values.tolist()}"
        )
    return [float(w) for w in values]


def check_gamma(gamma):
    return check_float(gamma, "gamma", minimum=0.0)


def check_beta(beta):
    return check_float(beta, "beta", minimum=0.0, maximum=1.0, max_inclusive=False)


def log_prior(class_counts):
    """Returns `log(n_j / sum(n))` as a float32 numpy array."""
    counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    return np.log(counts / counts.sum()).astype(np.float32)


def focal_modulator(log_p, gamma):
    """Returns `(1 - p)**gamma` from `log p`, finite with a finite gradient for every input."""
    one_minus_p = ops.maximum(-ops.expm1(log_p), _MODULATOR_FLOOR)
    return ops.power(one_minus_p, gamma)


class ClassWeightsMixin:
    """Holds per-class weights in a non-trainable float32 `keras.Variable`.

    The compiled train step reads the variable on every call, so `set_class_weights` takes effect
    at the next batch without recompiling (what `callbacks.DeferredReweighting` relies on).
    """

    def _init_class_weights(self, class_weights, num_classes):
        weights = check_weights(class_weights, "class_weights", num_classes)
        initial = np.ones(num_classes, np.float32) if weights is None else np.asarray(weights, np.float32)
        self._uses_class_weights = weights is not None
        self._class_weights = keras.Variable(
            initial, trainable=False, dtype="float32", name=f"{self.name}_class_weights"
        )

    @property
    def class_weights(self):
        """The current per-class weights, a list of floats, or `None` when never set."""
        if not self._uses_class_weights:
            return None
        return [float(w) for w in ops.convert_to_numpy(self._class_weights)]

    def set_class_weights(self, weights):
        """Assigns new per-class weights (a list of floats >= 0, one per class; `None` for all
        ones). The next training step uses them; no recompilation is needed."""
        num_classes = int(self._class_weights.shape[0])
        checked = check_weights(weights, "weights", num_classes)
        self._uses_class_weights = checked is not None
        values = np.ones(num_classes, np.float32) if checked is None else np.asarray(checked, np.float32)
        self._class_weights.assign(values)


class PerExampleLoss(keras.losses.Loss):
    """A Keras loss whose `call` is a per-example loss function applied with its own arguments.

    The function + class pair of `keras.losses` (e.g. `categorical_focal_crossentropy` and
    `CategoricalFocalCrossentropy`): a subclass sets `loss_fn` (a function
    `(y_true, y_pred, **arguments) -> (batch,)`) and `config_keys` (its constructor arguments
    besides `reduction`, `name` and `**kwargs`, each validated in `__init__` and stored as an
    attribute of the same name). `get_config` returns them with `keras.losses.Loss`'s own, so
    `from_config` is `cls(**config)`; `call` passes them to `loss_fn` by name unless the
    subclass overrides `loss_arguments` (to pass a weight variable instead of its config value,
    say).
    """

    loss_fn = None
    config_keys = ()

    def loss_arguments(self):
        """The keyword arguments `call` passes to `loss_fn`; by default every config key."""
        return {key: getattr(self, key) for key in self.config_keys}

    def call(self, y_true, y_pred):
        return self.loss_fn(y_true, y_pred, **self.loss_arguments())

    def get_config(self):
        return {**super().get_config(), **{key: getattr(self, key) for key in self.config_keys}}
