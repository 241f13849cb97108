"""`kerasimb.runs.store`: extra arrays of finished runs, callbacks' per-run arrays kept by
`compare(output_dir=)`, `train_resumable`, and two-stage runs resumed on the same batches."""

import json
import math

import keras
import numpy as np
import pytest
from test_resume import TINY_MODEL, run_compare, tiny_dataset

from kerasimb import methods
from kerasimb.runs import RunStore, callback_arrays, restore_callback_arrays, train_resumable
from kerasimb.utils.formatting import jsonable
from kerasimb.callbacks import FeatureSnapshot, ResumableBackup


class Stop(Exception):
    pass


class StopAfterFirstEpoch(ResumableBackup):
    """A backup whose process "dies" right after the first epoch's backup is written."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if epoch == 0:
            raise Stop


class BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_jsonable_matches_what_json_reads_back():
    value = {"a": np.float32(0.5), "b": float("nan"), "c": (1, np.int64(2)), 3: np.arange(2),
             "d": math.inf}
    assert jsonable(value) == {"a": 0.5, "b": None, "c": [1, 2], "3": [0, 1], "d": None}
    assert jsonable(jsonable(value)) == jsonable(value)


def test_extra_arrays_round_trip(tmp_path):
    store = RunStore(tmp_path)
    features = np.arange(6, dtype=np.float32).reshape(3, 2)
    store.save("ce", 0, {"epochs": 1}, {"method": "ce"}, np.eye(3),
               arrays={"callback0/features": features})
    assert store.finished("ce", 0) and not store.finished("ce", 1)
    run, probabilities = store.load("ce", 0, {"epochs": 1})
    assert run == {"method": "ce"} and probabilities.dtype == np.float32
    loaded = store.load_arrays("ce", 0)
    assert list(loaded) == ["callback0/features"]
    np.testing.assert_array_equal(loaded["callback0/features"], features)
    store.save("ce", 1, {"epochs": 1}, {"method": "ce"}, np.eye(3))
    assert store.load_arrays("ce", 1) == {}


def test_callback_arrays_protocol():
    class Plain(keras.callbacks.Callback):
        pass

    snapshot = FeatureSnapshot(np.zeros((2, 4, 4, 1)))
    snapshot.snapshots.append(np.ones((2, 3)))
    arrays = callback_arrays([Plain(), snapshot])
    assert list(arrays) == ["callback1/features"]
    other = FeatureSnapshot(np.zeros((2, 4, 4, 1)))
    restore_callback_arrays([Plain(), other], arrays)
    restore_callback_arrays([Plain(), other], {})  # a run kept without features
    np.testing.assert_array_equal(other.snapshots[0], np.ones((2, 3)))
    assert other.snapshots[1] is None
    assert callback_arrays([FeatureSnapshot(np.zeros((1, 4, 4, 1)))]) == {}  # nothing yet


def test_compare_keeps_and_restores_callback_arrays(tmp_path, monkeypatch):
    def logits(model, x):
        return model.predict(x.astype("float32") / 255.0, verbose=0)

    first = FeatureSnapshot(tiny_dataset().test[0], features_fn=logits)
    run_compare(tmp_path, callbacks=[first])
    monkeypatch.setattr(methods.Method, "train",
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained again")))
    second = FeatureSnapshot(tiny_dataset().test[0], features_fn=logits)
    run_compare(tmp_path, callbacks=[second])
    assert len(second.snapshots) == 1
    np.testing.assert_array_equal(second.snapshots[0], first.snapshots[0])


def test_train_resumable_restores_a_trained_run_without_training(tmp_path):
    """Killed after training, while scoring: the rerun loads the trained model."""
    store, dataset, fingerprint = RunStore(tmp_path), tiny_dataset(), {"epochs": 2}
    keras.backend.clear_session()
    model, history = train_resumable(store, "ce", 0, fingerprint, methods.get("ce"), dataset,
                                     TINY_MODEL, epochs=2, batch_size=8)
    assert len(history["loss"]) == 2
    weights = model.get_weights()
    keras.backend.clear_session()
    counter = BatchCounter()
    again, history_again = train_resumable(store, "ce", 0, fingerprint, methods.get("ce"),
                                           dataset, TINY_MODEL, epochs=2, batch_size=8,
                                           callbacks=[counter])
    assert counter.batches == 0
    assert history_again == history
    for a, b in zip(again.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unfinished run.*epochs"):
        train_resumable(store, "ce", 0, {"epochs": 3}, methods.get("ce"), dataset, TINY_MODEL,
                        epochs=3, batch_size=8)
    store.save("ce", 0, fingerprint, jsonable({"history": history}), np.eye(3))
    assert not (tmp_path / "backup").exists()  # nor the folders left empty above it
    assert (tmp_path / "runs").is_dir()
    with pytest.raises(ValueError, match="already finished"):
        train_resumable(store, "ce", 0, fingerprint, methods.get("ce"), dataset, TINY_MODEL,
                        epochs=2, batch_size=8)


def test_history_passes_keys_added_after_fit_through(tmp_path):
    backup = ResumableBackup(tmp_path)
    backup.previous_logs = [{"loss": 1.0}]
    backup._logs = [{"loss": 0.5}]
    merged = backup.history({"loss": [0.5], "stage2_loss": [0.3, 0.2]})
    assert merged == {"loss": [1.0, 0.5], "stage2_loss": [0.3, 0.2]}


def test_two_stage_resumes_on_the_same_batches(tmp_path):
    """`ce-crw` stopped after stage 1's first epoch, then resumed, equals an uninterrupted run
    (stage 1 replays the batches, stage 2 is redone), weights and history."""
    dataset = tiny_dataset()

    def method():
        return methods.get("ce-crw", stage2_epochs=1, warmup_epochs=0)

    keras.backend.clear_session()
    with pytest.raises(Stop):
        method().train(dataset, TINY_MODEL, epochs=2, batch_size=4, seed=0,
                       resume=StopAfterFirstEpoch(tmp_path))
    keras.backend.clear_session()
    backup = ResumableBackup(tmp_path)
    resumed, history = method().train(dataset, TINY_MODEL, epochs=2, batch_size=4, seed=0,
                                      resume=backup)
    resumed_history = backup.history(history.history)
    keras.backend.clear_session()
    reference, reference_history = method().train(dataset, TINY_MODEL, epochs=2, batch_size=4,
                                                  seed=0)
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert json.dumps(jsonable(resumed_history)) == json.dumps(
        jsonable(reference_history.history))


def test_fingerprint_of_file_backed_split_reads_no_file(tmp_path):
    import numpy as np

    from kerasimb.runs.store import dataset_fingerprint
    from kerasimb.data import ImageDataset, ImageFiles

    y = np.array([0, 0, 0, 1, 1])
    x_eval = np.zeros((4, 8, 8, 1), "uint8")
    y_eval = np.array([0, 0, 1, 1])

    def dataset(names):  # the files do not exist: a fingerprint must not open them
        files = ImageFiles([str(tmp_path / n) for n in names], image_size=8, channels=1)
        return ImageDataset((files, y), (x_eval, y_eval), (x_eval, y_eval), ["a", "b"])

    names = [f"{i}.png" for i in range(5)]
    first = dataset_fingerprint(dataset(names))
    assert first == dataset_fingerprint(dataset(names))
    assert first["sizes"] == [5, 4, 4] and first["class_counts"] == [3, 2]
    assert first["sha256"] != dataset_fingerprint(dataset(names[:4] + ["other.png"]))["sha256"]
