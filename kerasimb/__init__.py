"""kerasimb: Keras parts for class-imbalanced (long-tailed) medical image classification.

The package is organised as subpackages (see the README's architecture section):

>>> from kerasimb import data, metrics, methods
>>> ds = data.load_dataset("digits-lt")            # doctest: +SKIP
>>> ds.class_counts[0] / ds.class_counts[-1] >= 50  # doctest: +SKIP
True

`import kerasimb` imports the parts (data, losses, layers, metrics, models, callbacks, inference,
methods), which registers every Keras-serializable object, so that `.keras` files made with
kerasimb load with `keras.models.load_model(path, safe_mode=True)` afterwards. The other
subpackages (`runs`, `tuning`, `recipes`, `cli`) are imported on first use
(`kerasimb.runs.compare(...)` works after `import kerasimb`).

The entry points (the `kerasimb` command, `python -m kerasimb` and `python -m
kerasimb.recipes.<name>`) import only what each sub-command needs, so that `kerasimb --help` and
`kerasimb list` start without TensorFlow and TensorFlow's start-up log lines can be hidden.
"""

import importlib
import os
import sys

from kerasimb.version import __version__

# The parts: importing them registers every Keras-serializable object.
PARTS = ("callbacks", "data", "inference", "layers", "losses", "metrics", "methods", "models")
SUBPACKAGES = (*PARTS, "cli", "experiment", "recipes", "runs", "tuning", "utils")

__all__ = ["QuadSNet", "__version__", "import_parts", *SUBPACKAGES]


def import_parts():
    """Imports every part (`PARTS`), registering all of kerasimb's Keras-serializable objects."""
    for name in PARTS:
        importlib.import_module(f"kerasimb.{name}")


def __getattr__(name):
    """`kerasimb.<subpackage>` and `kerasimb.QuadSNet`, imported on first use (PEP 562)."""
    if name in SUBPACKAGES:
        return importlib.import_module(f"kerasimb.{name}")
    if name == "QuadSNet":
        return importlib.import_module("kerasimb.models").QuadSNet
    raise AttributeError(f"module 'kerasimb' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *SUBPACKAGES, "QuadSNet"})


def _started_by_an_entry_point():
    """Whether this import starts one of kerasimb's entry points: the `kerasimb` console script
    (`sys.argv[0]` is its script), or `python -m kerasimb...` (Python sets `sys.argv[0]` to
    `"-m"` while it imports the packages above the module it will run)."""
    script = sys.argv[0] if sys.argv else ""
    return script == "-m" or os.path.splitext(os.path.basename(script))[0] == "kerasimb"


if not _started_by_an_entry_point():
    import_parts()
