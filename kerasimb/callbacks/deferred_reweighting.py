"""Deferred re-weighting (DRW, Cao et al., NeurIPS 2019) as a Keras callback."""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.weights import class_weights as _class_weights
from kerasimb.utils.validation import check_class_counts, check_float, check_int


@kerasimb_export("kerasimb.callbacks.DeferredReweighting", serializable=False)
class DeferredReweighting(keras.callbacks.Callback):
    """Switches the training loss to effective-number class weights at `start_epoch` (DRW).

    Cao et al. (2019) train with unweighted LDAM for most of the run and re-weight by the inverse
    effective number of samples, w_j ∝ (1 - β) / (1 - β^{n_j}) with β = 0.9999, from epoch 160 of
    200 (together with a learning-rate drop; schedule that yourself). This callback calls
    `model.loss.set_class_weights(...)` at the start of every epoch: all-ones weights before
    `start_epoch` (so a run resumed with `initial_epoch` gets the right weights) and the
    effective-number weights (`losses.class_weights(class_counts, "effective", beta)`, summing to
    the number of classes) from `start_epoch` on. The loss keeps its weights in a `keras.Variable`
    read by the compiled train step, so nothing is recompiled. The current phase is written to
    `logs["drw_active"]` (1.0 or 0.0) at the end of each epoch, so it appears in `History`.

    Args:
        class_counts: list of int, training examples per class.
        start_epoch: int >= 0. First epoch (0-based) with the class weights.
        beta: float in [0, 1). Effective-number hyperparameter. Defaults to `0.9999`.

    Raises:
        TypeError: at the start of training, if the compiled loss has no `set_class_weights`
            (use e.g. `losses.LDAMLoss`).

    Example:

    >>> callback = DeferredReweighting([90, 10], start_epoch=2, beta=0.9)
    >>> [round(w, 4) for w in callback.weights]
    [0.7889, 1.2111]
    """

    def __init__(self, class_counts, start_epoch, beta=0.9999):
        super().__init__()
        self.class_counts = check_class_counts(class_counts)
        self.start_epoch = check_int(start_epoch, "start_epoch", minimum=0)
        self.beta = check_float(beta, "beta", minimum=0.0, maximum=1.0, max_inclusive=False)
        self.weights = _class_weights(self.class_counts, "effective", self.beta)
        self._active = False

    def _loss(self):
        loss = getattr(self.model, "loss", None)
        if not callable(getattr(loss, "set_class_weights", None)):
            raise TypeError(
                "Invalid value received for the compiled loss. Expected a loss with "
                f"`set_class_weights()` (e.g. kerasimb.losses.LDAMLoss). Received: loss={loss!r}"
            )
        return loss

    def on_train_begin(self, logs=None):
        self._loss()

    def on_epoch_begin(self, epoch, logs=None):
        self._active = epoch >= self.start_epoch
        self._loss().set_class_weights(self.weights if self._active else None)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["drw_active"] = 1.0 if self._active else 0.0
