"""`manifest.json`: which experiment an output folder holds and every file kerasimb wrote there.

An output folder belongs to one experiment. Its `manifest.json` records:

- `experiment`: `{"kind": "compare" | "evaluate" | ..., "settings": {...}}`, every setting
  the results depend on (dataset fingerprint, methods and their parameters, seeds, model,
  epochs, ...), but no timestamp or version;
- `files`: `{relative path: {"sha256", "size"}}`, every file the experiment wrote in the
  folder (reports, figures, CSV and JSON files, the finished runs of `runs/`, saved models);
- `complete`: `False` while the experiment runs (the manifest is written when it starts),
  `True` once its results are saved (the manifest is written again, atomically, last).

`check_experiment` is called before anything is trained or written: a folder whose manifest
names another experiment is refused (`ValueError` naming what differs and `overwrite=True`,
`--restart`). `start_experiment` then claims the folder; with `overwrite=True` it first removes
the files the previous manifest lists. Resuming the same experiment (same settings) is not
another experiment. `write_manifest` removes the files a
previous manifest of the folder listed and the new one does not. Only files a manifest lists,
unchanged since (same SHA-256), are ever removed: a file the user added or edited is kept.

Several processes of one experiment may share a folder (the shards of `compare(shard=)`): on a
new folder `start_experiment` creates the manifest without ever replacing one another process
wrote meanwhile (the first one stays, the others check that it names their experiment), a
folder that already holds the experiment is not written at all, and the final manifest is
written once, by the process that writes the results (`lists_unchanged` tells the others that
the results already cover their files).

Example:

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> experiment = {"kind": "demo", "settings": {"epochs": 3}}
>>> start_experiment(folder, experiment)
[]
>>> with open(os.path.join(folder, "a.txt"), "w") as f:
...     _ = f.write("results")
>>> sorted(write_manifest(folder, ["a.txt"], experiment)["files"]["a.txt"])
['sha256', 'size']
>>> check_experiment(folder, {"kind": "demo", "settings": {"epochs": 4}})
Traceback (most recent call last):
...
ValueError: Invalid value received for argument `output_dir`. ...(epochs: 3 in the folder, 4 now)
"""

import datetime
import hashlib
import json
import os
import tempfile

from kerasimb.api_export import kerasimb_export
from kerasimb.runs.store import setting_differences
from kerasimb.utils.atomic import WRITE_ERRNOS, write_json
from kerasimb.utils.formatting import jsonable
from kerasimb.version import __version__

__all__ = ["MANIFEST", "check_experiment", "lists_unchanged", "read_manifest",
           "start_experiment", "write_manifest"]

MANIFEST = "manifest.json"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(path):
    return {"sha256": _sha256(path), "size": os.path.getsize(path)}


@kerasimb_export("kerasimb.runs.read_manifest", serializable=False)
def read_manifest(output_dir):
    """Returns the `manifest.json` of `output_dir` as a dict, or `None` when there is none (or
    it cannot be read: a folder made before manifests, or a half-written one).

    >>> import tempfile
    >>> read_manifest(tempfile.mkdtemp()) is None
    True
    """
    path = os.path.join(os.fspath(output_dir), MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _inside(output_dir, name):
    """The absolute path of manifest entry `name`, or `None` when it would leave the folder."""
    root = os.path.realpath(output_dir)
    path = os.path.realpath(os.path.join(root, *name.split("/")))
    return path if path.startswith(root + os.sep) else None


def _remove_listed(output_dir, files, keep=()):
    """Removes the files of a manifest's `files` (but those in `keep`) that are unchanged since
    it was written, and the folders left empty by it; returns the names removed."""
    removed = []
    for name, entry in sorted((files or {}).items()):
        path = _inside(output_dir, name)
        if name in keep or path is None or not os.path.isfile(path):
            continue
        try:
            unchanged = (os.path.getsize(path) == entry.get("size")
                         and _sha256(path) == entry.get("sha256"))
        except OSError:
            continue
        if not unchanged:  # edited since: the user's now
            continue
        os.remove(path)
        removed.append(name)
        folder = os.path.dirname(path)
        root = os.path.realpath(output_dir)
        while folder != root and folder.startswith(root + os.sep) and not os.listdir(folder):
            os.rmdir(folder)
            folder = os.path.dirname(folder)
    return removed


@kerasimb_export("kerasimb.runs.check_experiment", serializable=False)
def check_experiment(output_dir, experiment, overwrite=False, name="output_dir"):
    """Checks that `output_dir` may hold `experiment`; changes nothing.

    A folder that does not exist, has no manifest (new, or made before manifests) or whose
    manifest names the same experiment (a run to resume) is accepted; so is any folder with
    `overwrite`. A folder holding another experiment is an error.

    Args:
        output_dir: str or path-like. The output folder.
        experiment: JSON-compatible dict, `{"kind": ..., "settings": {...}}`.
        overwrite: bool. Accept a folder holding another experiment (`start_experiment` then
            removes its files). Defaults to `False`.
        name: str. The argument named in the error. Defaults to `"output_dir"`.

    Raises:
        ValueError: the folder holds another experiment and `overwrite` is `False`; the
            message names what differs and `overwrite=True` (`--restart`).
    """
    output_dir = os.fspath(output_dir)
    experiment = jsonable(experiment)
    manifest = read_manifest(output_dir)
    if overwrite or manifest is None or manifest.get("experiment") == experiment:
        return
    stored = manifest.get("experiment") or {}
    if isinstance(stored, dict) and stored.get("kind") == experiment.get("kind") and isinstance(
            stored.get("settings"), dict) and isinstance(experiment.get("settings"), dict):
        stored, experiment = stored["settings"], experiment["settings"]  # name settings alone
    differences = "; ".join(setting_differences(stored, experiment)) or "unknown settings"
    raise ValueError(
        f"Invalid value received for argument `{name}`. Expected a new folder, or the folder "
        "of this same experiment (to resume it), or `overwrite=True` (`--restart`) to replace "
        f"the experiment it holds. Received: {name}={output_dir!r}, which holds another "
        f"experiment ({differences})")


@kerasimb_export("kerasimb.runs.start_experiment", serializable=False)
def start_experiment(output_dir, experiment, overwrite=False, name="output_dir"):
    """Makes `output_dir` the folder of `experiment` before anything is written to it.

    After `check_experiment`: with `overwrite`, the files the folder's manifest lists are
    removed (only those, and only when unchanged since); then, unless the folder already holds
    this experiment, a manifest naming it is written (with no files and `complete: false`), so
    that an interrupted run is recognised when it is resumed. In a folder without a manifest
    it is created only if no other process created one meanwhile (`os.link`, atomic): shards of
    one experiment started at once all accept the first one's.

    Args:
        output_dir: str or path-like. The output folder (created if needed).
        experiment: JSON-compatible dict, `{"kind": ..., "settings": {...}}`.
        overwrite: bool. Replace the experiment the folder holds (another one, or this one
            afresh). Defaults to `False`.
        name: str. The argument named in the error. Defaults to `"output_dir"`.

    Returns:
        The names of the files removed (a list, empty unless `overwrite`).

    Raises:
        ValueError: the folder holds another experiment and `overwrite` is `False`.
    """
    check_experiment(output_dir, experiment, overwrite, name)
    output_dir = os.fspath(output_dir)
    experiment = jsonable(experiment)
    manifest = read_manifest(output_dir)
    if manifest is not None and manifest.get("experiment") == experiment and not overwrite:
        return []
    removed = _remove_listed(output_dir, manifest.get("files")) if manifest else []
    os.makedirs(output_dir, exist_ok=True)
    if manifest is None and not overwrite:
        # A new folder, which shards of this experiment started at once may all be claiming:
        # the first manifest written stays, and the others check that it names their experiment.
        if _write(output_dir, experiment, {}, complete=False, replace=False) is not None:
            return removed
        if read_manifest(output_dir) is not None:  # written by another process meanwhile
            check_experiment(output_dir, experiment, overwrite, name)
            return removed
        # else an unreadable manifest, which is replaced
    _write(output_dir, experiment, {}, complete=False)
    return removed


def _write(output_dir, experiment, files, complete, replace=True):
    """Writes the manifest atomically; returns it. `replace=False`: only when the folder has
    none (a manifest another process writes meanwhile is never replaced); returns `None` when
    there was one."""
    manifest = {
        "kerasimb": __version__,
        "written": datetime.datetime.now().isoformat(timespec="seconds"),
        "complete": bool(complete),
        "experiment": experiment,
        "files": files,
    }
    path = os.path.join(output_dir, MANIFEST)
    if replace:
        write_json(path, manifest)
        return manifest
    fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST}.new-", dir=output_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails when `path` exists
        except FileExistsError:
            return None
        except OSError as error:
            if error.errno in WRITE_ERRNOS:
                raise OSError(error.errno, os.strerror(error.errno), path) from error
            if os.path.exists(path):  # a file system without hard links
                return None
            os.replace(tmp, path)
    except OSError as error:
        if error.errno in WRITE_ERRNOS and error.filename != path:
            raise OSError(error.errno, os.strerror(error.errno), path) from error
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return manifest


@kerasimb_export("kerasimb.runs.lists_unchanged", serializable=False)
def lists_unchanged(output_dir, names, experiment):
    """Whether `output_dir`'s manifest is complete, names `experiment` and lists each of
    `names` (paths relative to the folder, with `/`) with the SHA-256 and size the file has
    now: the results were written after every one of those files, and nothing changed since.

    >>> import os, tempfile
    >>> folder, experiment = tempfile.mkdtemp(), {"kind": "demo", "settings": {}}
    >>> with open(os.path.join(folder, "a.txt"), "w") as f:
    ...     _ = f.write("results")
    >>> _ = write_manifest(folder, ["a.txt"], experiment)
    >>> lists_unchanged(folder, ["a.txt"], experiment), lists_unchanged(folder, ["b"], experiment)
    (True, False)
    """
    output_dir = os.fspath(output_dir)
    manifest = read_manifest(output_dir)
    if (manifest is None or manifest.get("complete") is not True
            or manifest.get("experiment") != jsonable(experiment)):
        return False
    listed = manifest.get("files") or {}
    for name in names:
        path = _inside(output_dir, name)
        try:
            if name not in listed or path is None or _entry(path) != listed[name]:
                return False
        except OSError:
            return False
    return True


@kerasimb_export("kerasimb.runs.write_manifest", serializable=False)
def write_manifest(output_dir, files, experiment, overwrite=False, carry=()):
    """Writes `output_dir/manifest.json` (atomically) listing `files` with their SHA-256 and
    size; call it last, once every result file is written.

    Files a previous manifest of the folder listed and `files` does not are removed when that
    manifest named the same experiment, or with `overwrite` (only if unchanged since: a file
    the user edited is kept), but those under a `carry` folder, which stay listed (e.g. the
    finished runs of `runs/`, which a later comparison of the same experiment may load). A
    previous manifest of another experiment without `overwrite` is an error (see
    `start_experiment`).

    Args:
        output_dir: str or path-like.
        files: paths of the files written (absolute, relative to the working folder, or
            relative to `output_dir`); those outside `output_dir` are left out.
        experiment: JSON-compatible dict, `{"kind": ..., "settings": {...}}`.
        overwrite: bool. Replace another experiment's files. Defaults to `False`.
        carry: folder names relative to `output_dir` (`"runs/"`, ...) whose files a previous
            manifest of the same experiment listed are kept and listed again, when they are
            unchanged. Defaults to `()`.

    Returns:
        The manifest written, a dict.

    Raises:
        ValueError: the folder holds another experiment and `overwrite` is `False`.
    """
    output_dir = os.fspath(output_dir)
    experiment = jsonable(experiment)
    previous = read_manifest(output_dir)
    if previous is not None and previous.get("experiment") != experiment:
        start_experiment(output_dir, experiment, overwrite=overwrite)  # raises without it
        previous = None  # its files are gone
    root = os.path.realpath(output_dir)
    entries = {}
    for path in files:
        path = os.fspath(path)
        if not os.path.isabs(path):  # relative to the working folder (a path built from a
            # relative `output_dir`) when it names a file in the folder, else to `output_dir`
            here = os.path.realpath(path)
            path = here if here.startswith(root + os.sep) and os.path.exists(here) else \
                os.path.join(output_dir, path)
        path = os.path.realpath(path)
        if not path.startswith(root + os.sep) or os.path.basename(path) == MANIFEST:
            continue
        entries[os.path.relpath(path, root).replace(os.sep, "/")] = _entry(path)
    if previous is not None:
        for name, entry in (previous.get("files") or {}).items():
            path = _inside(output_dir, name)
            if (name not in entries and name.startswith(tuple(carry)) and path is not None
                    and os.path.isfile(path) and _entry(path) == entry):
                entries[name] = entry
        _remove_listed(output_dir, previous.get("files"), keep=entries)
    return _write(output_dir, experiment, dict(sorted(entries.items())), complete=True)
