"""Finished-run storage for `experiment.compare(output_dir=...)` and the recipes that train
outside `compare` (`recipes/perturbed_inference.py`): resume after an interruption.

Layout under `output_dir`:

    runs/<method>/seed<seed>.json   the run's record and the settings it was trained with
    runs/<method>/seed<seed>.npz    its test probabilities and extra arrays (allow_pickle=False)
    backup/<method>/seed<seed>/     `callbacks.ResumableBackup` of the run being trained

The `.npz` is written (atomically) before the `.json`, and the `.json` marks a run as finished.

Callbacks passed to `compare` may keep per-run results with a finished run: a callback with
`run_arrays()` (a dict of numpy arrays describing the run just trained, e.g. the features
`callbacks.FeatureSnapshot` recorded) has them stored in the run's `.npz`, and gets them back
through `restore_run_arrays(arrays)` when the run is loaded instead of trained
(`callback_arrays`, `restore_callback_arrays`).
"""

import hashlib
import json
import os
import shutil

import numpy as np

from kerasimb.utils.atomic import write_json, write_npz

_EXTRA = "extra/"


def _safe(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def dataset_fingerprint(dataset):
    """Name, classes, split sizes and a SHA-256 of the split arrays (labels and pixels).

    A file-backed split (`data.ImageFiles`) is hashed by its paths and image shape, not by
    decoding every file: a file rewritten in place under the same path is not detected.
    """
    from kerasimb.data.image_files import ImageFiles

    digest = hashlib.sha256()
    for x, y in (dataset.train, dataset.val, dataset.test):
        if isinstance(x, ImageFiles):
            digest.update(str(("files", x.shape)).encode())
            x = x.paths
        for array in (np.ascontiguousarray(x), np.ascontiguousarray(y)):
            digest.update(str((array.dtype.str, array.shape)).encode())
            digest.update(memoryview(array).cast("B"))
    return {
        "name": dataset.name,
        "class_names": list(dataset.class_names),
        "class_counts": [int(c) for c in dataset.class_counts],
        "sizes": [len(dataset.train[1]), len(dataset.val[1]), len(dataset.test[1])],
        "sha256": digest.hexdigest(),
    }


def jsonable(value):
    """`value` as it reads back from JSON: numpy values to Python, NaN/inf to `None`, tuples
    to lists, keys to str (so a fresh run's record equals the record of a loaded one)."""
    from kerasimb.experiment import _jsonable

    return json.loads(json.dumps(_jsonable(value)))


def callback_arrays(callbacks):
    """Collects `run_arrays()` of the callbacks that have it: `{"callback<i>/<name>": array}`."""
    arrays = {}
    for i, callback in enumerate(callbacks):
        if hasattr(callback, "run_arrays"):
            for name, value in (callback.run_arrays() or {}).items():
                arrays[f"callback{i}/{name}"] = np.asarray(value)
    return arrays


def restore_callback_arrays(callbacks, arrays):
    """Hands each callback with `restore_run_arrays` its part of `callback_arrays`' output
    (an empty dict when the run stored none)."""
    for i, callback in enumerate(callbacks):
        if hasattr(callback, "restore_run_arrays"):
            prefix = f"callback{i}/"
            callback.restore_run_arrays({k[len(prefix):]: v for k, v in arrays.items()
                                         if k.startswith(prefix)})


def _differences(stored, current, prefix=""):
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<missing>"), current.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the folder, {b!r} now")
    return out


class RunStore:
    """Reads and writes finished (method, seed) runs under `output_dir`."""

    def __init__(self, output_dir, overwrite=False):
        self.output_dir = os.fspath(output_dir)
        if overwrite:
            for sub in ("runs", "backup"):
                shutil.rmtree(os.path.join(self.output_dir, sub), ignore_errors=True)
        os.makedirs(self.output_dir, exist_ok=True)

    def _paths(self, label, seed):
        base = os.path.join(self.output_dir, "runs", _safe(label), f"seed{seed}")
        return base + ".json", base + ".npz"

    def backup_dir(self, label, seed):
        return os.path.join(self.output_dir, "backup", _safe(label), f"seed{seed}")

    def _check(self, stored, fingerprint, label, seed, where):
        if stored != fingerprint:
            differences = "; ".join(_differences(stored, fingerprint))
            raise ValueError(
                "Invalid value received for argument `output_dir`. Expected a folder whose "
                f"saved runs used the same settings, or `overwrite=True` (`--restart`) to "
                f"discard them. Received: output_dir={self.output_dir!r}, whose {where} of "
                f"`{label}` seed {seed} was made with other settings ({differences})"
            )

    def finished(self, label, seed):
        """Whether the run's record is on disk (without checking its settings)."""
        return os.path.exists(self._paths(label, seed)[0])

    def load(self, label, seed, fingerprint):
        """Returns `(run dict, probabilities)` of a finished run, or `None`.

        Raises:
            ValueError: the run (or its unfinished backup) was made with other settings.
        """
        json_path, npz_path = self._paths(label, seed)
        if not os.path.exists(json_path):
            backup = os.path.join(self.backup_dir(label, seed), "settings.json")
            if os.path.exists(backup):
                with open(backup, encoding="utf-8") as f:
                    self._check(json.load(f), fingerprint, label, seed, "unfinished run")
            return None
        with open(json_path, encoding="utf-8") as f:
            record = json.load(f)
        self._check(record["fingerprint"], fingerprint, label, seed, "finished run")
        with np.load(npz_path, allow_pickle=False) as data:
            probabilities = np.asarray(data["probabilities"], dtype=np.float32)
        return record["run"], probabilities

    def load_arrays(self, label, seed):
        """Returns the extra arrays saved with a finished run (`save(..., arrays=)`), a dict."""
        with np.load(self._paths(label, seed)[1], allow_pickle=False) as data:
            return {k[len(_EXTRA):]: np.asarray(data[k]) for k in data.files
                    if k.startswith(_EXTRA)}

    def start(self, label, seed, fingerprint):
        """Creates the run's backup folder (recording `fingerprint`); returns its path."""
        folder = self.backup_dir(label, seed)
        os.makedirs(folder, exist_ok=True)
        write_json(os.path.join(folder, "settings.json"), fingerprint)
        return folder

    def save(self, label, seed, fingerprint, run, probabilities, arrays=None):
        """Writes a finished run (probabilities and `arrays` first, the record last) and drops
        its backup. `run` must be JSON-serialisable without NaN (see `jsonable`)."""
        json_path, npz_path = self._paths(label, seed)
        extra = {_EXTRA + k: np.asarray(v) for k, v in (arrays or {}).items()}
        write_npz(npz_path, probabilities=np.asarray(probabilities, dtype=np.float32), **extra)
        write_json(json_path, {"fingerprint": fingerprint, "run": run})
        shutil.rmtree(self.backup_dir(label, seed), ignore_errors=True)


def train_resumable(store, label, seed, fingerprint, method, dataset, model_fn, **train_kwargs):
    """`method.train(dataset, model_fn, seed=seed, ...)` that survives a killed process.

    The run trains with a `callbacks.ResumableBackup` in `store.backup_dir(label, seed)` (after
    checking an unfinished run's settings against `fingerprint`), kept when `fit` ends: calling
    this again after an interruption continues from the last completed epoch, on the batches an
    uninterrupted run would see, and after a completed `fit` (killed while the trained model was
    being scored) restores the trained model without training. `store.save(label, seed, ...)`
    marks the run finished and drops the backup.

    Args:
        store: `RunStore`.
        label, seed: the run's name and seed (`seed` is passed to `method.train`).
        fingerprint: JSON-compatible dict of every setting the run depends on.
        method: `methods.Method`.
        dataset: `ImageDataset`.
        model_fn: callable `(input_shape, num_classes) -> keras.Model`.
        **train_kwargs: more `method.train` arguments (`epochs`, `batch_size`, `callbacks`, ...).

    Returns:
        `(model, history)`: the trained model and the `History.history` dict of the whole run
        (epochs trained before the interruption included).

    Raises:
        ValueError: the folder holds a run of `label` / `seed` made with other settings.
    """
    from kerasimb.callbacks.backup import ResumableBackup

    if store.load(label, seed, fingerprint) is not None:
        raise ValueError(
            f"Invalid value received for argument `label`. Expected a run not finished yet. "
            f"Received: label={label!r}, seed={seed}, already finished in {store.output_dir!r} "
            "(load it with `store.load`)"
        )
    backup = ResumableBackup(store.start(label, seed, fingerprint), delete_checkpoint=False)
    callbacks = [*train_kwargs.pop("callbacks", ()), backup]
    model, history = method.train(dataset, model_fn, seed=seed, callbacks=callbacks,
                                  **train_kwargs)
    return model, backup.history(history.history)
