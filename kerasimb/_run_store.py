"""Finished-run storage for `experiment.compare(output_dir=...)`: resume after an interruption.

Layout under `output_dir`:

    runs/<method>/seed<seed>.json   the run's record and the settings it was trained with
    runs/<method>/seed<seed>.npz    its test probabilities (loaded with allow_pickle=False)
    backup/<method>/seed<seed>/     `callbacks.ResumableBackup` of the run being trained

The `.npz` is written (atomically) before the `.json`, and the `.json` marks a run as finished.
"""

import hashlib
import json
import os
import shutil

import numpy as np

from kerasimb.utils.atomic import write_json, write_npz


def _safe(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def dataset_fingerprint(dataset):
    """Name, classes, split sizes and a SHA-256 of the split arrays (labels and pixels)."""
    digest = hashlib.sha256()
    for x, y in (dataset.train, dataset.val, dataset.test):
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

    def start(self, label, seed, fingerprint):
        """Creates the run's backup folder (recording `fingerprint`); returns its path."""
        folder = self.backup_dir(label, seed)
        os.makedirs(folder, exist_ok=True)
        write_json(os.path.join(folder, "settings.json"), fingerprint)
        return folder

    def save(self, label, seed, fingerprint, run, probabilities):
        """Writes a finished run (probabilities first, the record last) and drops its backup."""
        json_path, npz_path = self._paths(label, seed)
        write_npz(npz_path, probabilities=np.asarray(probabilities, dtype=np.float32))
        write_json(json_path, {"fingerprint": fingerprint, "run": run})
        shutil.rmtree(self.backup_dir(label, seed), ignore_errors=True)
