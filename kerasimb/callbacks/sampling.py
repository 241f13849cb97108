"""Callbacks that change a running pipeline's class-sampling probabilities between epochs.

Both act on a `data.SamplingWeights` passed as `q=` to `data.sampled_dataset` (or
`data.two_view_dataset`): they set its per-epoch schedule, which the pipeline looks up by the
batch's step index (`row = min(step // steps_per_epoch, last)`), so every batch of an epoch,
prefetched or not, follows that epoch's probabilities, the batches depend only on `(seed, step)`
(a run resumed by `callbacks.ResumableBackup`, whose pipeline skips the batches already trained
on, sees the same batches as an uninterrupted one), and neither the dataset, nor the model, nor
the compiled train step is rebuilt. The schedule is set when the callback is built with
`steps_per_epoch=`, else at `on_train_begin` from `fit`'s `steps_per_epoch`; without either
(a dataset of unknown length) the callbacks assign the probabilities at each epoch start and
the batches already prefetched (a few) keep the previous epoch's. Steps count from the
pipeline's first batch: for `fit(initial_epoch=k)` on a fresh pipeline, skip its first
`k * steps_per_epoch` batches (`Dataset.skip`, as `ResumableBackup` does).
"""

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.sampling import SamplingWeights, class_probabilities
from kerasimb.utils.validation import check_float, check_int


def _check_weights(weights):
    if not isinstance(weights, SamplingWeights):
        raise TypeError(
            "Invalid type received for argument `weights`. Expected a "
            f"`kerasimb.data.SamplingWeights`. Received: weights={weights!r}"
        )
    return weights


def _log_probabilities(logs, weights):
    if logs is not None:
        for j, p in enumerate(weights.probabilities):
            logs[f"sampling_p{j}"] = float(p)


def _check_steps(steps_per_epoch):
    if steps_per_epoch is None:
        return None
    return check_int(steps_per_epoch, "steps_per_epoch", minimum=1)


class _ScheduleCallback(keras.callbacks.Callback):
    """Sets `weights`' per-epoch schedule (`table()`) and keeps its variable at the epoch's row."""

    def __init__(self, weights, steps_per_epoch=None):
        super().__init__()
        self.weights = _check_weights(weights)
        self.steps_per_epoch = _check_steps(steps_per_epoch)
        if self.steps_per_epoch is not None:
            self.weights.set_schedule(self.table(), self.steps_per_epoch)

    def table(self):
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        steps = self.steps_per_epoch or (self.params or {}).get("steps")
        if steps:
            self.weights.set_schedule(self.table(), steps)

    def on_epoch_begin(self, epoch, logs=None):
        table = self.table()
        self.weights.assign(table[min(epoch, len(table) - 1)])

    def on_epoch_end(self, epoch, logs=None):
        _log_probabilities(logs, self.weights)


@kerasimb_export("kerasimb.callbacks.ProgressiveSampling", serializable=False)
class ProgressiveSampling(_ScheduleCallback):
    """Progressive-balanced sampling: from instance to class sampling over training.

    Kang et al. (2020): at epoch t of T, p = (1 - t/T) p_instance + (t/T) p_class, with
    p_instance_j = n_j / N and p_class_j = 1/K (epochs counted from 0, so the first epoch is
    pure instance sampling and the last is almost pure class sampling; epochs from T on use
    class sampling). The schedule is looked up by the pipeline per batch (module docstring), so
    each epoch's batches follow its probabilities from the first batch. The probabilities of each
    epoch are written to `logs["sampling_p<j>"]` at its end, so `History` records them.

    Args:
        weights: `data.SamplingWeights` read by the training pipeline.
        epochs: int >= 1. T, the total number of epochs.
        steps_per_epoch: int >= 1 or `None` (take `fit`'s at `on_train_begin`). Batches per
            epoch. Defaults to `None`.

    Example:

    >>> from kerasimb import data
    >>> weights = data.SamplingWeights([90, 10])
    >>> callback = ProgressiveSampling(weights, epochs=4)
    >>> callback.on_epoch_begin(2)
    >>> weights.probabilities.round(3).tolist()
    [0.7, 0.3]
    """

    def __init__(self, weights, epochs, steps_per_epoch=None):
        self.epochs = check_int(epochs, "epochs", minimum=1)
        super().__init__(weights, steps_per_epoch)

    def table(self):
        """`(epochs + 1, num_classes)`: row t is p at t / epochs; the last row is class sampling."""
        return np.stack([self.weights.progress_probabilities(t / self.epochs)
                         for t in range(self.epochs + 1)])


@kerasimb_export("kerasimb.callbacks.DeferredResampling", serializable=False)
class DeferredResampling(_ScheduleCallback):
    """Deferred re-sampling (DRS): instance sampling, then class sampling from `start_epoch`.

    Cao et al. (2019) train with ordinary (instance) sampling first and switch to class-balanced
    re-sampling late in training (epoch 160 of 200). The pipeline draws with p_j ∝ n_j^q_before
    before `start_epoch` and p_j ∝ n_j^q_after from its first batch on (a per-step schedule, see
    the module docstring). The probabilities are written to `logs["sampling_p<j>"]` at the end
    of each epoch.

    Args:
        weights: `data.SamplingWeights` read by the training pipeline.
        start_epoch: int >= 0. First epoch (0-based) of the re-sampling phase.
        q_before: float. Exponent before `start_epoch`. Defaults to `1.0` (instance sampling).
        q_after: float. Exponent from `start_epoch` on. Defaults to `0.0` (class sampling).
        steps_per_epoch: int >= 1 or `None` (take `fit`'s at `on_train_begin`). Batches per
            epoch. Defaults to `None`.

    Example:

    >>> from kerasimb import data
    >>> weights = data.SamplingWeights([90, 10])
    >>> callback = DeferredResampling(weights, start_epoch=3)
    >>> callback.on_epoch_begin(2); weights.probabilities.round(3).tolist()
    [0.9, 0.1]
    >>> callback.on_epoch_begin(3); weights.probabilities.round(3).tolist()
    [0.5, 0.5]
    """

    def __init__(self, weights, start_epoch, q_before=1.0, q_after=0.0, steps_per_epoch=None):
        self.start_epoch = check_int(start_epoch, "start_epoch", minimum=0)
        self.q_before = check_float(q_before, "q_before")
        self.q_after = check_float(q_after, "q_after")
        super().__init__(weights, steps_per_epoch)

    def table(self):
        """`(start_epoch + 1, num_classes)`: q_before rows, then the q_after row."""
        counts = self.weights.class_counts
        return np.stack([class_probabilities(counts, self.q_before)] * self.start_epoch
                        + [class_probabilities(counts, self.q_after)])


def default_start_epoch(epochs, fraction=0.8):
    """Returns DRS's switch epoch: `floor(fraction * epochs)` (Cao et al.: 160 of 200)."""
    return int(np.floor(fraction * epochs))
