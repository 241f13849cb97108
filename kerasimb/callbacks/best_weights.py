"""Model selection: keep the weights of the epoch with the best validation score."""

import math

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.report import SCALAR_METRICS, report
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_images_labels

# The `metrics.report` keys a run can be selected by: every scalar one (all larger-is-better).
SELECTABLE = SCALAR_METRICS


def _default_predict(model, x):
    logits = model.predict(to_float_images(x), batch_size=256, verbose=0)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


@kerasimb_export("kerasimb.callbacks.BestValidationWeights", serializable=False)
class BestValidationWeights(keras.callbacks.Callback):
    """Scores the validation split after every epoch and restores the best epoch's weights.

    Galdran et al. (2021) keep the checkpoint with the best validation score of the task's main
    metric (quadratic kappa for retinopathy grades, MCC otherwise). After each epoch this
    callback computes `metrics.report(y_val, predict_fn(model, x_val))[monitor]`, writes it to
    `logs["val_<monitor>"]` (so `History` records it), and keeps a copy of the weights when the
    score improves (strictly; the earliest best epoch wins ties; an undefined score, NaN, never
    counts as an improvement). At the end of training the best weights are put back and
    `best_epoch` / `best_score` are set.

    Args:
        x_val: validation images `(N, H, W, C)`, uint8 or float.
        y_val: integer labels `(N,)`.
        monitor: one of `SELECTABLE` (`"mcc"`, `"quadratic_kappa"`, `"balanced_accuracy"`,
            `"macro_f1"`, ...). Defaults to `"mcc"`.
        predict_fn: callable `(model, x) -> probabilities (N, K)`, e.g. a method's `predict`.
            Defaults to softmax of `model.predict` on `x` scaled like the pipelines.

    Example:

    >>> import numpy as np
    >>> callback = BestValidationWeights(np.zeros((4, 2, 2, 1)), [0, 1, 0, 1], monitor="mcc")
    >>> callback.monitor, callback.best_epoch
    ('mcc', None)
    """

    def __init__(self, x_val, y_val, monitor="mcc", predict_fn=None):
        super().__init__()
        if monitor not in SELECTABLE:
            raise ValueError(
                "Invalid value received for argument `monitor`. Expected one of "
                f"{list(SELECTABLE)}. Received: monitor={monitor!r}"
            )
        self.x_val, self.y_val = check_images_labels(x_val, y_val, x_name="x_val", y_name="y_val")
        self.monitor = monitor
        self.predict_fn = predict_fn or _default_predict
        self.best_epoch = None
        self.best_score = None
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self.best_epoch, self.best_score, self._best_weights = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        probs = np.asarray(self.predict_fn(self.model, self.x_val))
        score = report(self.y_val, probs).get(self.monitor)
        score = float("nan") if score is None else float(score)
        if logs is not None:
            logs[f"val_{self.monitor}"] = score
        if math.isfinite(score) and (self.best_score is None or score > self.best_score):
            self.best_epoch, self.best_score = epoch, score
            self._best_weights = [np.array(w) for w in self.model.get_weights()]

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
