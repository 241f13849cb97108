"""The finished-run store behind every resumable output folder (`runs.compare(output_dir=)`,
the recipes that train outside `compare`, such as `perturbed_inference`).

Layout under `output_dir`:

    runs/<method>/seed<seed>.json   the run's record and the settings it was trained with
    runs/<method>/seed<seed>.npz    its test probabilities and extra arrays (allow_pickle=False)
    runs/<method>/seed<seed>.lock   while a process trains the run (`runs.RunLock`): shards
                                    sharing the folder never train the same run
    backup/<method>/seed<seed>/     `callbacks.ResumableBackup` of the run being trained

The `.npz` is written (atomically) before the `.json`, and the `.json` marks a run as finished.

Callbacks passed to `compare` may keep per-run results with a finished run: a callback with
`run_arrays()` (a dict of numpy arrays describing the run just trained, e.g. the features
`callbacks.FeatureSnapshot` recorded) has them stored in the run's `.npz`, and gets them back
through `restore_run_arrays(arrays)` when the run is loaded instead of trained
(`callback_arrays`, `restore_callback_arrays`).
"""

import datetime
import hashlib
import json
import os
import shutil

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_files import ImageFiles
from kerasimb.utils.atomic import write_json, write_npz
from kerasimb.utils.formatting import safe_name

__all__ = ["RunStore", "callback_arrays", "check_output_dir", "dataset_fingerprint",
           "default_output", "restore_callback_arrays", "run_name", "setting_differences"]

_EXTRA = "extra/"


@kerasimb_export("kerasimb.runs.default_output", serializable=False)
def default_output(command, dataset_name):
    """Returns `runs/<command>-<dataset>-<timestamp>`, a new folder name for a run's results.

    >>> default_output("compare", "medmnist:breast").startswith("runs/compare-medmnist_breast-")
    True
    """
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{command}-{safe_name(dataset_name)}-{stamp}")


@kerasimb_export("kerasimb.runs.check_output_dir", serializable=False)
def check_output_dir(output_dir, name="output_dir"):
    """Checks that `output_dir` can be a results folder: a folder or a path that does not exist
    yet, in a writable place. Creates nothing; returns the path as a str.

    Raises:
        ValueError: `output_dir` is an existing file, or it (or the nearest existing folder
            above it) is not writable.
    """
    path = os.fspath(output_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a folder (new or "
            f"existing). Received: {name}={path!r}, which is a file")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a folder this process can "
            f"write to. Received: {name}={path!r} ({existing!r} is not writable)")
    return path


@kerasimb_export("kerasimb.runs.dataset_fingerprint", serializable=False)
def dataset_fingerprint(dataset):
    """Name, classes, split sizes and a SHA-256 of the split arrays (labels and pixels).

    A file-backed split (`data.ImageFiles`) is hashed by its paths and image shape, not by
    decoding every file: a file rewritten in place under the same path is not detected.
    """
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


def run_name(seed):
    """The name of a run in its method's folder: `"seed<seed>"` for an integer seed, the text
    itself for a run named otherwise (`compare(folds=)` names its runs `"fold<i>"`).

    >>> run_name(3), run_name("fold0")
    ('seed3', 'fold0')
    """
    return seed if isinstance(seed, str) else f"seed{seed}"


def setting_differences(stored, current, prefix=""):
    """Lines `"key: <stored> in the folder, <current> now"` for every setting (nested keys
    joined by dots) that differs between two settings dicts.

    >>> setting_differences({"epochs": 1, "model": {"width": 8}}, {"epochs": 2, "model": {}})
    ['epochs: 1 in the folder, 2 now', "model.width: 8 in the folder, '<missing>' now"]
    """
    out = []
    for key in sorted(set(stored) | set(current)):
        a, b = stored.get(key, "<missing>"), current.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += setting_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} in the folder, {b!r} now")
    return out


@kerasimb_export("kerasimb.runs.RunStore", serializable=False)
class RunStore:
    """Reads and writes finished (method, seed) runs under `output_dir`.

    A run is identified by a label (e.g. the method) and a seed; its record holds a fingerprint,
    a JSON-compatible dict of every setting it depends on, which `load` checks against the
    current settings (a folder made with other settings is an error naming what differs).

    Args:
        output_dir: str or path-like. The results folder (created if needed).
        overwrite: bool. Discard the saved runs and backups first. Defaults to `False`.

    Example:

    >>> import tempfile
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.save("ce", 0, {"epochs": 3}, {"method": "ce"}, np.full((2, 2), 0.5))
    >>> store.load("ce", 0, {"epochs": 3})[0]
    {'method': 'ce'}
    """

    def __init__(self, output_dir, overwrite=False):
        self.output_dir = os.fspath(output_dir)
        if overwrite:
            for sub in ("runs", "backup"):
                shutil.rmtree(os.path.join(self.output_dir, sub), ignore_errors=True)
        os.makedirs(self.output_dir, exist_ok=True)

    def paths(self, label, seed):
        """The files of a finished run: `(record .json, arrays .npz)` (they may not exist)."""
        base = os.path.join(self.output_dir, "runs", safe_name(label), run_name(seed))
        return base + ".json", base + ".npz"

    def lock_path(self, label, seed):
        """The run's lock file (`runs.RunLock`), which exists while a process trains it."""
        return self.paths(label, seed)[0][:-len(".json")] + ".lock"

    def drop_empty_folders(self, label, seed):
        """Removes `runs/<method>/` and `runs/` when they are empty (after the lock of a run
        that did not finish is released: a failed first run leaves no folder behind)."""
        folder = os.path.dirname(self.lock_path(label, seed))
        for path in (folder, os.path.dirname(folder)):
            try:
                os.rmdir(path)
            except OSError:  # not empty (another run, or another process's lock), or gone
                return

    def backup_dir(self, label, seed):
        return os.path.join(self.output_dir, "backup", safe_name(label), run_name(seed))

    def _check(self, stored, fingerprint, label, seed, where):
        if stored != fingerprint:
            differences = "; ".join(setting_differences(stored, fingerprint))
            raise ValueError(
                "Invalid value received for argument `output_dir`. Expected a folder whose "
                f"saved runs used the same settings, or `overwrite=True` (`--restart`) to "
                f"discard them. Received: output_dir={self.output_dir!r}, whose {where} of "
                f"`{label}` {run_name(seed)} was made with other settings ({differences})"
            )

    def finished(self, label, seed):
        """Whether the run's record is on disk (without checking its settings)."""
        return os.path.exists(self.paths(label, seed)[0])

    def load(self, label, seed, fingerprint):
        """Returns `(run dict, probabilities)` of a finished run, or `None`.

        Raises:
            ValueError: the run (or its unfinished backup) was made with other settings.
        """
        json_path, npz_path = self.paths(label, seed)
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
        with np.load(self.paths(label, seed)[1], allow_pickle=False) as data:
            return {k[len(_EXTRA):]: np.asarray(data[k]) for k in data.files
                    if k.startswith(_EXTRA)}

    def start(self, label, seed, fingerprint):
        """Creates the run's backup folder (recording `fingerprint`); returns its path."""
        folder = self.backup_dir(label, seed)
        for attempt in range(5):  # another process sharing the folder may be removing the
            try:                  # empty backup/<method>/ above it (`save`) at this moment
                os.makedirs(folder, exist_ok=True)
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
        write_json(os.path.join(folder, "settings.json"), fingerprint)
        return folder

    def save(self, label, seed, fingerprint, run, probabilities, arrays=None):
        """Writes a finished run (probabilities and `arrays` first, the record last) and drops
        its backup. `run` must be JSON-serialisable without NaN (see `utils.formatting.jsonable`)."""
        json_path, npz_path = self.paths(label, seed)
        extra = {_EXTRA + k: np.asarray(v) for k, v in (arrays or {}).items()}
        write_npz(npz_path, probabilities=np.asarray(probabilities, dtype=np.float32), **extra)
        write_json(json_path, {"fingerprint": fingerprint, "run": run})
        shutil.rmtree(self.backup_dir(label, seed), ignore_errors=True)
        try:  # and the folders left empty above it (backup/<method>/, backup/)
            os.removedirs(os.path.dirname(self.backup_dir(label, seed)))
        except OSError:
            pass  # another run's backup is still there
