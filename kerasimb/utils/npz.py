"""`read_npz`: the arrays of a user's `.npz` file, never unpickled, with one clear error."""

import os
import zipfile
import zlib

import numpy as np

# What numpy and zipfile raise for a damaged, truncated or non-zip file, or a pickled member.
_READ_ERRORS = (ValueError, OSError, zipfile.BadZipFile, EOFError, zlib.error, KeyError)


def unreadable_npz(path, argument):
    """The ValueError for an `.npz` that cannot be read (its text never suggests unpickling)."""
    return ValueError(
        f"Invalid value received for argument `{argument}`. Expected an .npz file of arrays. "
        f"Received: could not read {os.fspath(path)} as an .npz of arrays (corrupt, truncated, "
        "or holding pickled objects, which kerasimb never loads); write it again with "
        "`numpy.savez` from numeric arrays"
    )


def read_npz(path, argument="path", select=None):
    """Returns `(names, arrays)`: every array name in the `.npz` at `path` and a dict of the
    arrays read (those `select(names)` returns, or all). `allow_pickle` stays off.

    Raises:
        ValueError: the file is not a readable `.npz` of plain arrays (the message names it).
    """
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS:
        raise unreadable_npz(path, argument) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(
            f"Invalid value received for argument `{argument}`. Expected an .npz file of arrays. "
            f"Received: {os.fspath(path)} holds a single .npy array, not an .npz archive; save "
            "it with `numpy.savez`")
    with archive:
        names = list(archive.files)
        wanted = names if select is None else select(names)
        try:
            return names, {key: np.asarray(archive[key]) for key in wanted}
        except _READ_ERRORS:
            raise unreadable_npz(path, argument) from None
