"""Argument validation shared by every part of kerasimb.

Each helper raises a `ValueError` or `TypeError` whose message names the argument, what was
expected and what was received, using the Keras template:

    Invalid value received for argument `rate`. Expected a float between 0 and 1. Received: rate=1.5

and returns the validated, normalised value so that callers write `self.x = check_...(x, "x")`.
No helper clips, drops or silently converts bad input.
"""

import numbers
import os

import numpy as np


def _invalid(name, expected, received):
    return ValueError(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={received!r}"
    )


def check_int(value, name, minimum=None, maximum=None):
    """Returns `value` as a Python int, checking its type and range (bounds inclusive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected an integer. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _invalid(name, _range_text("an integer", minimum, maximum), value)
    return value


def check_float(value, name, minimum=None, maximum=None, min_inclusive=True, max_inclusive=True):
    """Returns `value` as a finite Python float, checking its type and range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a float. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    value = float(value)
    bad = not np.isfinite(value)
    if minimum is not None:
        bad |= value < minimum if min_inclusive else value <= minimum
    if maximum is not None:
        bad |= value > maximum if max_inclusive else value >= maximum
    if bad:
        expected = _range_text("a finite float", minimum, maximum, min_inclusive, max_inclusive)
        raise _invalid(name, expected, value)
    return value


def _range_text(kind, minimum, maximum, min_inclusive=True, max_inclusive=True):
    parts = []
    if minimum is not None:
        parts.append(f"{'>=' if min_inclusive else '>'} {minimum}")
    if maximum is not None:
        parts.append(f"{'<=' if max_inclusive else '<'} {maximum}")
    return kind + (" " + " and ".join(parts) if parts else "")


def check_choice(value, name, choices):
    """Returns `value` if it is one of `choices`."""
    if value not in choices:
        raise _invalid(name, f"one of {list(choices)}", value)
    return value


def check_bool(value, name):
    """Returns `value` if it is a bool (`True` or `False`, not 0/1 or a numpy bool)."""
    if not isinstance(value, bool):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a bool. Received: {name}={value!r}"
        )
    return value


def check_str(value, name, expected, allow_path=False):
    """Returns `value` if it is a non-empty str; `expected` says what it names, for the error.

    With `allow_path=True` an `os.PathLike` is accepted too and returned as its str.
    """
    if allow_path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected {expected} as a non-empty "
            f"str. Received: {name}={value!r}"
        )
    return value


def check_distinct(values, name, kind="names"):
    """Returns `values` (a list) if no two of its entries are equal; `kind` names them."""
    if len(set(values)) != len(values):
        raise _invalid(name, f"distinct {kind}", values)
    return values


def check_class_counts(class_counts, num_classes=None, name="class_counts"):
    """Returns `class_counts` as a list of positive ints, one per class.

    Args:
        class_counts: sequence of non-negative integers, the training examples per class.
        num_classes: int or `None`. When given, the expected length.
        name: str. The argument name used in error messages.

    Raises:
        ValueError: wrong length, a non-integer or negative entry, or a class with no examples.
    """
    if isinstance(class_counts, (str, bytes)) or not hasattr(class_counts, "__len__"):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a list of integers, one per "
            f"class. Received: {name}={class_counts!r}"
        )
    values = np.asarray(class_counts)
    if values.ndim != 1 or values.size < 2:
        raise _invalid(name, "a flat list of at least 2 integers, one per class", class_counts)
    if not (np.issubdtype(values.dtype, np.integer) or np.all(np.mod(values, 1) == 0)):
        raise _invalid(name, "integer counts", class_counts)
    counts = [int(c) for c in values]
    if num_classes is not None and len(counts) != num_classes:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected {num_classes} entries, one "
            f"per class. Received: {len(counts)} entries, {name}={counts}"
        )
    negative = [i for i, c in enumerate(counts) if c < 0]
    if negative:
        raise _invalid(name, "non-negative counts", counts)
    missing = [i for i, c in enumerate(counts) if c == 0]
    if missing:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Every class needs at least one "
            f"example. Received: no examples for classes {missing} in {name}={counts}"
        )
    return counts


def check_labels(y, num_classes=None, name="y"):
    """Returns integer class labels `y` as an int64 array of shape `(N,)`.

    Accepts shape `(N,)` or `(N, 1)` and integer-valued floats. Raises on any other shape,
    non-integer or non-finite values, and labels outside `[0, num_classes)`.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected integer labels of shape (N,) "
            f"or (N, 1). Received: {name} with shape {y.shape}"
        )
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected integer labels. "
            f"Received: {name} with dtype {y.dtype}"
        )
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (np.mod(y, 1) != 0)
        if np.any(bad):
            raise _invalid(name, "integer-valued labels", y[bad][:5].tolist())
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise _invalid(name, "labels >= 0", int(y.min()))
    if num_classes is not None and y.size and y.max() >= num_classes:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected labels in [0, {num_classes - 1}] "
            f"for num_classes={num_classes}. Received: label {int(y.max())} at index "
            f"{int(np.argmax(y))}"
        )
    return y


def check_images_labels(x, y, num_classes=None, x_name="x", y_name="y"):
    """Returns `(x, y)` validated as images `(N, H, W, C)` and integer labels `(N,)`.

    Images must be uint8, or float with only finite values; they are returned unchanged (no copy
    and no rescaling). Labels go through `check_labels`.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            f"Invalid value received for argument `{x_name}`. Expected images of shape "
            f"(N, height, width, channels). Received: {x_name} with shape {x.shape}"
        )
    if x.dtype == np.uint8:
        pass
    elif x.dtype.kind == "f":
        finite = np.isfinite(x)
        if not finite.all():
            first = int(np.argwhere(~finite.reshape(len(x), -1).all(axis=1))[0, 0])
            raise ValueError(
                f"Invalid value received for argument `{x_name}`. Expected finite pixel values. "
                f"Received: NaN or inf in {x_name}[{first}] "
                f"({int((~finite).sum())} non-finite values in all)"
            )
    else:
        raise TypeError(
            f"Invalid type received for argument `{x_name}`. Expected uint8 or float images. "
            f"Received: {x_name} with dtype {x.dtype}"
        )
    y = check_labels(y, num_classes, y_name)
    if len(x) != len(y):
        raise ValueError(
            f"Expected `{x_name}` and `{y_name}` to hold the same number of examples. "
            f"Received: {len(x)} images and {len(y)} labels"
        )
    return x, y


def check_input_shape(input_shape, name="input_shape"):
    """Returns `input_shape` as a tuple of three positive ints `(height, width, channels)`.

    Raises:
        TypeError: not a sequence (a str is not one).
        ValueError: not 3 entries, or an entry that is not an int >= 1.
    """
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__"):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a tuple (height, width, "
            f"channels). Received: {name}={input_shape!r}"
        )
    if len(input_shape) != 3:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a tuple of 3 integers "
            f"(height, width, channels). Received: {name}={tuple(input_shape)!r}"
        )
    return tuple(check_int(d, name, minimum=1) for d in input_shape)
