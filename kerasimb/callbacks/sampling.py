"""Callbacks that change a running pipeline's class-sampling probabilities between epochs.

Both act on a `data.SamplingWeights` passed as `q=` to `data.sampled_dataset`: they assign its
`tf.Variable` at the start of each epoch, and the pipeline reads it for every batch, so neither
the dataset, nor the model, nor the compiled train step is rebuilt. Batches already prepared by
the pipeline's `prefetch` (a few) still follow the previous epoch's probabilities.
"""

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.sampling import SamplingWeights
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


@kerasimb_export("kerasimb.callbacks.ProgressiveSampling", serializable=False)
class ProgressiveSampling(keras.callbacks.Callback):
    """Progressive-balanced sampling: from instance to class sampling over training.

    Kang et al. (2020): at epoch t of T, p = (1 - t/T) p_instance + (t/T) p_class, with
    p_instance_j = n_j / N and p_class_j = 1/K (epochs counted from 0, so the first epoch is
    pure instance sampling and the last is almost pure class sampling). The probabilities of each
    epoch are written to `logs["sampling_p<j>"]` at its end, so `History` records them.

    Args:
        weights: `data.SamplingWeights` read by the training pipeline.
        epochs: int >= 1. T, the total number of epochs.

    Example:

    >>> from kerasimb import data
    >>> weights = data.SamplingWeights([90, 10])
    >>> callback = ProgressiveSampling(weights, epochs=4)
    >>> callback.on_epoch_begin(2)
    >>> weights.probabilities.round(3).tolist()
    [0.7, 0.3]
    """

    def __init__(self, weights, epochs):
        super().__init__()
        self.weights = _check_weights(weights)
        self.epochs = check_int(epochs, "epochs", minimum=1)

    def on_epoch_begin(self, epoch, logs=None):
        self.weights.set_progress(min(epoch / self.epochs, 1.0))

    def on_epoch_end(self, epoch, logs=None):
        _log_probabilities(logs, self.weights)


@kerasimb_export("kerasimb.callbacks.DeferredResampling", serializable=False)
class DeferredResampling(keras.callbacks.Callback):
    """Deferred re-sampling (DRS): instance sampling, then class sampling from `start_epoch`.

    Cao et al. (2019) train with ordinary (instance) sampling first and switch to class-balanced
    re-sampling late in training (epoch 160 of 200). At the start of every epoch this callback
    sets p_j ∝ n_j^q_before before `start_epoch` and p_j ∝ n_j^q_after from it on (so a run
    resumed with `initial_epoch` gets the right phase). The probabilities are written to
    `logs["sampling_p<j>"]` at the end of each epoch.

    Args:
        weights: `data.SamplingWeights` read by the training pipeline.
        start_epoch: int >= 0. First epoch (0-based) of the re-sampling phase.
        q_before: float. Exponent before `start_epoch`. Defaults to `1.0` (instance sampling).
        q_after: float. Exponent from `start_epoch` on. Defaults to `0.0` (class sampling).

    Example:

    >>> from kerasimb import data
    >>> weights = data.SamplingWeights([90, 10])
    >>> callback = DeferredResampling(weights, start_epoch=3)
    >>> callback.on_epoch_begin(2); weights.probabilities.round(3).tolist()
    [0.9, 0.1]
    >>> callback.on_epoch_begin(3); weights.probabilities.round(3).tolist()
    [0.5, 0.5]
    """

    def __init__(self, weights, start_epoch, q_before=1.0, q_after=0.0):
        super().__init__()
        self.weights = _check_weights(weights)
        self.start_epoch = check_int(start_epoch, "start_epoch", minimum=0)
        self.q_before = check_float(q_before, "q_before")
        self.q_after = check_float(q_after, "q_after")

    def on_epoch_begin(self, epoch, logs=None):
        self.weights.set_q(self.q_after if epoch >= self.start_epoch else self.q_before)

    def on_epoch_end(self, epoch, logs=None):
        _log_probabilities(logs, self.weights)


def default_start_epoch(epochs, fraction=0.8):
    """Returns DRS's switch epoch: `floor(fraction * epochs)` (Cao et al.: 160 of 200)."""
    return int(np.floor(fraction * epochs))
