"""Crash-safe training: `ResumableBackup`, a `keras.callbacks.BackupAndRestore` whose files are
written atomically and that lets the caller replay the training batches already seen.

Example:

>>> import tempfile
>>> backup = ResumableBackup(tempfile.mkdtemp())
>>> backup.resume_epoch()
0
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.callbacks.best_weights import BestValidationWeights
from kerasimb.utils.atomic import atomic_path, write_json, write_npz

_METADATA = "training_metadata.json"


def _seed_generator_states(model):
    """The `keras.random.SeedGenerator` state variables of `model` (dropout and friends), which
    `save_weights` does not store."""
    variables = [v for v in model.variables if "seed_generator_state" in v.path]
    return {f"{i}:{v.path}": v for i, v in enumerate(variables)}  # paths alone may repeat


@kerasimb_export("kerasimb.callbacks.ResumableBackup", serializable=False)
class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` made crash-safe, for runs that must survive a killed process.

    At the end of every epoch it writes, each file atomically (temporary file + `os.replace`):
    the model's and optimizer's weights to `epoch-<n>.weights.h5`, the random-generator states of
    its dropout-like layers and of any `BestValidationWeights` among the fit's callbacks to
    `epoch-<n>.state.npz`, and then `training_metadata.json` naming them, with the epoch count
    and the `fit` logs so far. The metadata is replaced last, so a process killed at any moment
    leaves either the previous epoch's complete backup or the new one. At the start of `fit` the
    latest backup is loaded and training continues at the next epoch; at the end of a completed
    `fit` the folder is deleted.

    To reproduce an uninterrupted run exactly, the training batches must continue where they
    stopped: call `prepare(model, dataset, steps_per_epoch, callbacks, input_shape)` before
    `fit` and train on the dataset it returns (`Method.train(..., resume=backup)` does so),
    which skips the batches the finished epochs consumed.

    Args:
        backup_dir: str, the folder for the backup files (created if needed).
        delete_checkpoint: bool. Delete the folder when `fit` completes. Defaults to `True`.

    Example:

    >>> import tempfile
    >>> ResumableBackup(tempfile.mkdtemp()).previous_logs
    []
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__(os.fspath(backup_dir), save_freq="epoch",
                         delete_checkpoint=delete_checkpoint, double_checkpoint=False)
        self.previous_logs = []
        self._logs = []

    # --- Reading the backup (before fit) -------------------------------------------------------

    def _metadata(self):
        path = os.path.join(self.backup_dir, _METADATA)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def resume_epoch(self):
        """Returns the number of epochs the backup holds (0 when there is none)."""
        metadata = self._metadata()
        return 0 if metadata is None else int(metadata["epoch"])

    def replay(self, dataset, steps_per_epoch):
        """Returns `dataset` advanced past the batches of the epochs already trained.

        Keras draws `steps_per_epoch` batches an epoch, starting a new pass over a finite
        dataset when it runs out; a seeded `shuffle(..., reshuffle_each_iteration=True)`
        gives each pass its own order. For a finite dataset of exactly `steps_per_epoch`
        batches the passes are consumed here (in full, without training); for an infinite one
        the batches are skipped with `Dataset.skip`. Other layouts are returned unchanged
        (training resumes, but not on the batches an uninterrupted run would see).
        """
        epochs = self.resume_epoch()
        if not epochs or not isinstance(dataset, tf.data.Dataset):
            return dataset
        cardinality = int(dataset.cardinality())
        if cardinality == tf.data.INFINITE_CARDINALITY:
            return dataset.skip(epochs * steps_per_epoch)
        if cardinality == steps_per_epoch:
            for _ in range(epochs):
                for _ in dataset:
                    pass
        return dataset

    def prepare(self, model, dataset, steps_per_epoch, callbacks, input_shape):
        """Readies a `fit` that this backup will continue; returns the dataset to train on.

        Tells the backup the fit's other `callbacks` (whose state it saves and restores), and
        when it holds a backup, builds `model` on `input_shape` (loading weights needs built
        variables) and returns `replay(dataset, steps_per_epoch)`.

        Args:
            model: the `keras.Model` about to be fitted.
            dataset: the training `tf.data.Dataset`.
            steps_per_epoch: int, batches per epoch.
            callbacks: the fit's other callbacks.
            input_shape: tuple, one example's shape (without the batch axis).
        """
        self.set_callbacks(callbacks)
        if not self.resume_epoch():
            return dataset
        if not model.built:
            model(np.zeros((1, *input_shape), np.float32))
        return self.replay(dataset, steps_per_epoch)

    # --- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        self._logs = []
        self.previous_logs = []
        self._load_model()

    def set_callbacks(self, callbacks):
        """Tells the backup which other callbacks of the fit carry state to save."""
        self._others = list(callbacks)

    def _others_with_state(self):
        return [c for c in getattr(self, "_others", []) if isinstance(c, BestValidationWeights)]

    def _load_model(self):
        metadata = self._metadata()
        if metadata is None:
            return
        if not self.model.built:
            raise ValueError(
                "To use `ResumableBackup`, the model must be built before `fit()`. "
                f"Received: an unbuilt model {self.model}"
            )
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, metadata["weights"]))
        with np.load(os.path.join(self.backup_dir, metadata["state"]),
                     allow_pickle=False) as state:
            for path, variable in _seed_generator_states(self.model).items():
                key = "seed/" + path
                if key in state:
                    variable.assign(state[key])
            for i, callback in enumerate(self._others_with_state()):
                prefix = f"callback{i}/"
                if prefix + "best_epoch" in state:
                    callback.best_epoch = int(state[prefix + "best_epoch"])
                    callback.best_score = float(state[prefix + "best_score"])
                    n = int(state[prefix + "num_weights"])
                    callback._best_weights = [state[f"{prefix}w{j}"] for j in range(n)]
        self.previous_logs = list(metadata.get("logs", []))
        self.model._initial_epoch = int(metadata["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._logs.append({k: float(v) for k, v in (logs or {}).items()})
        self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        epoch = self._current_epoch
        weights = f"epoch-{epoch}.weights.h5"
        state_name = f"epoch-{epoch}.state.npz"
        with atomic_path(os.path.join(self.backup_dir, weights)) as tmp:
            self.model.save_weights(tmp, overwrite=True)
        state = {"seed/" + path: keras.ops.convert_to_numpy(v)
                 for path, v in _seed_generator_states(self.model).items()}
        for i, callback in enumerate(self._others_with_state()):
            if callback.best_epoch is not None:
                prefix = f"callback{i}/"
                state[prefix + "best_epoch"] = np.int64(callback.best_epoch)
                state[prefix + "best_score"] = np.float64(callback.best_score)
                state[prefix + "num_weights"] = np.int64(len(callback._best_weights))
                state.update({f"{prefix}w{j}": w for j, w in enumerate(callback._best_weights)})
        write_npz(os.path.join(self.backup_dir, state_name), **state)
        logs = self.previous_logs + self._logs
        write_json(os.path.join(self.backup_dir, _METADATA),
                   {"epoch": epoch, "weights": weights, "state": state_name,
                    "logs": [{k: (v if np.isfinite(v) else None) for k, v in entry.items()}
                             for entry in logs]},
                   indent=None)
        for name in os.listdir(self.backup_dir):  # older epochs' files
            if name.startswith("epoch-") and name not in (weights, state_name):
                os.remove(os.path.join(self.backup_dir, name))

    def history(self, history):
        """Returns the `History.history` dict of the whole run: the logs restored from the
        backup followed by `history`'s (the epochs trained in this process).

        Keys of `history` that no epoch of this `fit` logged (added by the caller afterwards,
        such as a two-stage method's `stage2_*` logs) are passed through unchanged.
        """
        fit_keys = {key for entry in self.previous_logs + self._logs for key in entry}
        merged = {}
        for entry in self.previous_logs:
            for key, value in entry.items():
                merged.setdefault(key, []).append(value)
        for key, values in (history or {}).items():
            if key in fit_keys:
                merged.setdefault(key, [None] * len(self.previous_logs)).extend(values)
            else:
                merged[key] = list(values)
        return merged
