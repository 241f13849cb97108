"""Atomic file writes: a reader (or a rerun after a crash) sees the old file or the new one,
never a half-written one.

Every helper writes to a temporary file in the destination's folder (same file system) and then
`os.replace`s it onto the destination, which is atomic on POSIX and Windows. A process killed
mid-write leaves at most a stray `.<name>.tmp-*` file behind, never a truncated result.

Example:

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> path = write_json(os.path.join(folder, "a.json"), {"x": 1})
>>> open(path).read()
'{\\n  "x": 1\\n}'
"""

import contextlib
import errno
import json
import os
import tempfile

import numpy as np

from kerasimb.api_export import kerasimb_export

__all__ = ["WRITE_ERRNOS", "atomic_path", "write_bytes", "write_json", "write_npz", "write_text"]

# The errors of a write the file system refuses (full disk, quota, file size limit, no
# permission, read-only): `atomic_path` reports them for the destination, not the temporary file.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM,
                          errno.EROFS})


@kerasimb_export("kerasimb.utils.atomic_path", serializable=False)
@contextlib.contextmanager
def atomic_path(path):
    """Context manager yielding a temporary path that is moved onto `path` on success.

    The temporary name keeps `path`'s extension (so that e.g. `matplotlib.savefig` and
    `model.save` pick the right format). On an exception the temporary file is removed and
    `path` is left untouched. An `OSError` of a write the file system refuses (`WRITE_ERRNOS`:
    full disk, quota, file size limit, permissions, read-only), also one raised by a library
    such as h5py, is raised again as `OSError(errno, strerror, path)`, naming the destination
    rather than the temporary file.

    Args:
        path: str or path-like, the destination.

    Yields:
        str, the temporary path to write to.

    Example:

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_path(target) as tmp:
    ...     _ = open(tmp, "w").write("done")
    >>> open(target).read()
    'done'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _, ext = os.path.splitext(base)
    if base.endswith(".weights.h5"):
        ext = ".weights.h5"
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.tmp-", suffix=ext, dir=folder)
    except OSError as error:
        _raise_for(error, path)
    os.close(fd)
    os.remove(tmp)  # writers such as np.savez or h5py want to create the file themselves
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise OSError(f"Nothing was written to the temporary file for {path!r}.")
        os.replace(tmp, path)
    except OSError as error:
        _raise_for(error, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _raise_for(error, path):
    """Raises `error` again; a refused write (`WRITE_ERRNOS`) as one naming `path`."""
    if error.errno in WRITE_ERRNOS and error.filename != path:
        raise OSError(error.errno, os.strerror(error.errno), path) from error
    raise error


def write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically, flushed to disk; returns `path`."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return os.fspath(path)


@kerasimb_export("kerasimb.utils.write_text", serializable=False)
def write_text(path, text):
    """Writes `text` (UTF-8) to `path` atomically; returns `path`.

    Example:

    >>> import os, tempfile
    >>> path = write_text(os.path.join(tempfile.mkdtemp(), "r.md"), "# report")
    >>> open(path).read()
    '# report'
    """
    return write_bytes(path, text.encode("utf-8"))


@kerasimb_export("kerasimb.utils.write_json", serializable=False)
def write_json(path, obj, indent=2):
    """Writes `obj` as JSON (no NaN/inf allowed) to `path` atomically; returns `path`."""
    return write_text(path, json.dumps(obj, indent=indent, allow_nan=False))


@kerasimb_export("kerasimb.utils.write_npz", serializable=False)
def write_npz(path, **arrays):
    """Writes arrays to a compressed `.npz` at `path` atomically; returns `path`.

    Object arrays are refused (they would need pickle to load back).

    Raises:
        TypeError: an array of dtype object.
    """
    for name, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(
                f"Invalid type received for argument `{name}`. Expected a numeric array (object "
                f"arrays need pickle to load). Received: {name} with dtype object"
            )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
    return os.fspath(path)
