"""Numbers and tables as every report writes them: JSON-safe values, mean ± std, markdown tables.

One place for what `runs`, `tuning` and the recipes all print, so that a figure reads the same
in a comparison, a search report and a paper's table.

Example:

>>> summary = mean_std([0.80, 0.82, 0.84])
>>> format_stat(summary)
'0.820 ± 0.020'
>>> print(markdown_table(["method", "mcc"], [["ce", format_stat(summary)]]))
| method | mcc |
|---|---|
| ce | 0.820 ± 0.020 |
"""

import csv
import json
import math
import os

import numpy as np

from kerasimb.utils.atomic import atomic_path

__all__ = ["csv_value", "finite_or_none", "format_stat", "jsonable", "markdown_table",
           "mean_std", "safe_name", "spread_text", "write_csv"]


def finite_or_none(value):
    """`value` as a Python float, or `None` when it is `None`, NaN or infinite.

    >>> finite_or_none(np.float32(0.5)), finite_or_none(float("nan"))
    (0.5, None)
    """
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return finite_or_none(value)
    return value


def jsonable(value):
    """`value` as it reads back from JSON: numpy scalars and arrays to Python values, NaN and
    infinities to `None`, tuples to lists, dict keys to str.

    A freshly computed record and the same record loaded from a JSON file compare equal.

    >>> jsonable({"a": np.float64(1.5), 2: (np.int64(3), float("inf"))})
    {'a': 1.5, '2': [3, None]}
    """
    return json.loads(json.dumps(_plain(value)))


def mean_std(values):
    """Mean and sample standard deviation (ddof=1) of the finite values in `values`.

    Returns:
        dict with `mean` (`None` without a finite value), `std` (`None` with fewer than two),
        `n` (how many finite values) and `values` (every value, undefined ones as `None`).

    >>> mean_std([1.0, float("nan"), 3.0])
    {'mean': 2.0, 'std': 1.4142135623730951, 'n': 2, 'values': [1.0, None, 3.0]}
    """
    values = [finite_or_none(v) for v in values]
    finite = [v for v in values if v is not None]
    return {
        "mean": float(np.mean(finite)) if finite else None,
        "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "n": len(finite),
        "values": values,
    }


def format_stat(stat, digits=3):
    """Formats a `mean_std` summary as `"0.812 ± 0.010"` (`"n/a"` without a mean).

    Args:
        stat: dict with `mean` and `std` (as `mean_std` returns), or a sequence of values.
        digits: int. Decimal places. Defaults to `3`.

    >>> format_stat({"mean": 0.8125, "std": 0.0104})
    '0.812 ± 0.010'
    >>> format_stat({"mean": 0.5, "std": None}, digits=2)
    '0.50'
    >>> format_stat([0.5, 0.7])
    '0.600 ± 0.141'
    """
    if not isinstance(stat, dict):
        stat = mean_std(stat)
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    if stat.get("std") is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def markdown_table(header, rows):
    """A markdown table from a header row and body rows (cells formatted with `str`).

    >>> print(markdown_table(["a", "b"], [[1, 2]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(str(c) for c in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def safe_name(text):
    """`text` with every character but letters, digits, `-`, `_` and `.` replaced by `_`, for
    file and folder names.

    >>> safe_name("ce+perturb (T=1000)")
    'ce_perturb__T_1000_'
    """
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))


def spread_text(seeds, unit="seeds"):
    """How a figure over `seeds` (or folds) is summarised, for a report's sentence.

    >>> spread_text([0, 1, 2])
    'mean ± std over seeds [0, 1, 2]'
    >>> spread_text([3])
    'seed 3'
    """
    seeds = list(seeds)
    if len(seeds) > 1:
        return f"mean ± std over {unit} {seeds}"
    return f"{unit.rstrip('s')} {seeds[0]}"


def csv_value(value):
    """One CSV cell: floats at full precision (`repr`, which reads back to the same float), an
    empty cell for `None`, NaN and infinities, `str` for the rest.

    >>> csv_value(np.float32(0.1)), csv_value(1 / 3), csv_value(None), csv_value(7)
    ('0.10000000149011612', '0.3333333333333333', '', '7')
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = finite_or_none(value)
        return "" if value is None else repr(value)
    return str(value)


def write_csv(path, header, rows):
    """Writes a CSV file (Python's `csv` module, UTF-8, cells by `csv_value`) atomically: a
    reader sees the old file or the complete new one. Returns `path` as a str.

    Args:
        path: str or path-like.
        header: sequence of column names.
        rows: iterable of sequences, each as long as `header`.

    Raises:
        ValueError: a row whose length is not the header's.

    Example:

    >>> import tempfile
    >>> path = write_csv(os.path.join(tempfile.mkdtemp(), "t.csv"), ["method", "mcc"],
    ...                  [["ce", 0.5], ["focal", None]])
    >>> open(path).read().splitlines()
    ['method,mcc', 'ce,0.5', 'focal,']
    """
    header = [str(h) for h in header]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            for number, row in enumerate(rows):
                row = list(row)
                if len(row) != len(header):
                    raise ValueError(
                        "Invalid value received for argument `rows`. Expected rows of "
                        f"{len(header)} cells ({header}). Received: row {number} with "
                        f"{len(row)} cells, {row!r}"
                    )
                writer.writerow([csv_value(v) for v in row])
    return os.fspath(path)
