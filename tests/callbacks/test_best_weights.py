"""BestValidationWeights restores the best validation epoch; compare(select_by=...) uses it."""

import keras
import numpy as np
import pytest
from sklearn.metrics import matthews_corrcoef

from kerasimb import callbacks, data, runs


class WeightRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


def _toy(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (rng.random((n, 4, 4, 1)) * 0.3 + y[:, None, None, None] * 0.3).astype("float32")
    return x, y


def test_restores_weights_of_best_validation_epoch():
    x, y = _toy()
    xv, yv = _toy(60, seed=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile(keras.optimizers.SGD(0.5), keras.losses.CategoricalCrossentropy(from_logits=True))
    best = callbacks.BestValidationWeights(xv, yv, monitor="mcc")
    recorder = WeightRecorder()
    history = model.fit(x, keras.utils.to_categorical(y, 3), epochs=6, batch_size=16, verbose=0,
                        shuffle=False, callbacks=[recorder, best])
    scores = history.history["val_mcc"]
    # independent re-derivation of each epoch's validation MCC from the recorded weights
    for weights, score in zip(recorder.weights, scores):
        w, b = weights
        pred = (xv.reshape(len(xv), -1) @ w + b).argmax(1)
        assert abs(matthews_corrcoef(yv, pred) - score) < 1e-6
    epoch = int(np.argmax(scores))  # first maximum
    assert epoch < len(scores) - 1  # the restore is not trivially the last epoch
    assert best.best_epoch == epoch and best.best_score == pytest.approx(scores[epoch])
    for restored, kept in zip(model.get_weights(), recorder.weights[epoch]):
        np.testing.assert_array_equal(restored, kept)


def test_errors():
    x, y = _toy(10)
    with pytest.raises(ValueError, match="Received: monitor='loss'"):
        callbacks.BestValidationWeights(x, y, monitor="loss")
    with pytest.raises(ValueError, match="Received: select_by='f2'"):
        runs.compare("digits-lt", methods=["ce"], select_by="f2")


def test_compare_select_by_records_setting_and_scores():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], [30, 10])
    x = rng.integers(0, 256, (40, 8, 8, 1)).astype("uint8")
    ds = data.ImageDataset((x, y), (x[:8], y[:8]), (x[:8], y[:8]), ["a", "b"], name="toy")
    from kerasimb.models import SmallCNN

    result = runs.compare(ds, methods=["ce"], backbone=lambda s, k: SmallCNN(s, k, width=4, depth=1),
                                epochs=2, seeds=[0], progress=False, select_by="balanced_accuracy")
    assert result.settings["select_by"] == "balanced_accuracy"
    assert len(result.runs[0]["history"]["val_balanced_accuracy"]) == 2
    assert "best validation `balanced_accuracy`" in runs.report.report_markdown(result)


def test_selection_with_a_modifier_method_scores_with_the_wrapped_predict():
    from kerasimb import methods
    from kerasimb.runs.compare import _selection_callbacks

    x, y = _toy(12)
    ds = data.ImageDataset((x, y), (x, y), (x, y), ["a", "b", "c"])
    wrapped = methods.get("ce+perturb")
    (callback,) = _selection_callbacks("mcc", ds, wrapped)
    assert callback.predict_fn == wrapped.base.predict
    assert _selection_callbacks(None, ds, wrapped) == []
