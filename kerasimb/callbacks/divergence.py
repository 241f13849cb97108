"""Stopping a run whose loss is no longer finite: `DivergenceMonitor` and `TrainingDiverged`.

A learning rate far too large (or a loss that overflows) turns the weights into NaN or inf
within a few steps; every later epoch, validation score and prediction is then meaningless.
`DivergenceMonitor` checks the training loss after every batch (and the validation loss after
every epoch) and raises `TrainingDiverged` at the first non-finite value, before any other
callback scores, saves or restores the broken weights. `runs.compare` records such a run as
diverged and goes on with the others.

Example:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
>>> model.compile(keras.optimizers.SGD(1e30), "mse")
>>> try:
...     model.fit(np.ones((8, 2)), np.ones((8, 2)), epochs=3, batch_size=2, verbose=0,
...               callbacks=[DivergenceMonitor()])
... except TrainingDiverged as error:
...     print(error.epoch, error.last_finite_loss is not None)
1 True
"""

import math

import keras

from kerasimb.api_export import kerasimb_export

__all__ = ["DivergenceMonitor", "TrainingDiverged"]


def _finite(value):
    """`float(value)`, or `None` when it is NaN, inf or not a number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@kerasimb_export("kerasimb.callbacks.TrainingDiverged", serializable=False)
class TrainingDiverged(ValueError):
    """A training run whose loss (or prediction) stopped being finite.

    A `ValueError`: the usual cause is a setting (most often a learning rate too large), and
    the `kerasimb` command turns it into one line with exit status 2.

    Args:
        message: str.
        epoch: int, the 1-based epoch in which the run diverged.
        last_finite_loss: float or `None`, the last finite training loss reported.
        reason: str, what was not finite (e.g. `"the training loss became nan"`).
        history: dict `name -> list` of the epochs completed before, as `History.history`.

    Example:

    >>> error = TrainingDiverged("diverged", epoch=3, last_finite_loss=2.5, reason="loss nan")
    >>> error.epoch, error.last_finite_loss, str(error)
    (3, 2.5, 'diverged')
    """

    def __init__(self, message, epoch=None, last_finite_loss=None, reason="", history=None):
        super().__init__(message)
        self.epoch = epoch
        self.last_finite_loss = last_finite_loss
        self.reason = reason
        self.history = dict(history or {})

    def record(self):
        """The JSON-compatible description kept with a diverged run: `{"epoch",
        "last_finite_loss", "reason"}`."""
        return {"epoch": self.epoch, "last_finite_loss": self.last_finite_loss,
                "reason": self.reason}


@kerasimb_export("kerasimb.callbacks.DivergenceMonitor", serializable=False)
class DivergenceMonitor(keras.callbacks.Callback):
    """Raises `TrainingDiverged` as soon as the training loss (or the validation loss) is NaN
    or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets the epoch end (validation, checkpoints,
    best-weights bookkeeping on NaN weights) and returns as if training had finished, the run
    stops at the first non-finite batch loss and the exception says when: the 1-based `epoch`
    (absolute, so a resumed run counts the epochs trained before), the last finite training
    loss seen, and the epochs completed (`history`). Put it first among the callbacks so that
    no other one sees the broken epoch's end.

    Example:

    >>> monitor = DivergenceMonitor()
    >>> monitor.last_finite_loss is None
    True
    """

    def __init__(self):
        super().__init__()
        self.last_finite_loss = None
        self._epoch = 0
        self._history = {}

    def on_train_begin(self, logs=None):
        self.last_finite_loss = None
        self._history = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _diverged(self, what, value):
        reason = f"the {what} became {value}"
        raise TrainingDiverged(
            f"Training diverged at epoch {self._epoch + 1}: {reason} (last finite training "
            f"loss: {self.last_finite_loss}). Lower the learning rate.",
            epoch=self._epoch + 1, last_finite_loss=self.last_finite_loss, reason=reason,
            history=self._history)

    def on_train_batch_end(self, batch, logs=None):
        if logs is None or "loss" not in logs:
            return
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            self._diverged("training loss", loss)
        self.last_finite_loss = loss

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key, what in (("loss", "training loss"), ("val_loss", "validation loss")):
            if key in logs and _finite(logs[key]) is None:
                self._diverged(what, float(logs[key]))
        if "loss" in logs:
            self.last_finite_loss = float(logs["loss"])
        for key, value in logs.items():
            self._history.setdefault(key, []).append(_finite(value))
