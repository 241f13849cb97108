"""kerasimb: Keras parts for class-imbalanced (long-tailed) medical image classification.

The package is organised as subpackages (see DESIGN.md):

>>> from kerasimb import data, metrics, methods
>>> ds = data.load_dataset("digits-lt")            # doctest: +SKIP
>>> ds.class_counts[0] / ds.class_counts[-1] >= 50  # doctest: +SKIP
True
"""

__version__ = "0.1.0"

from kerasimb import callbacks  # noqa: E402,F401
from kerasimb import data  # noqa: E402,F401
from kerasimb import inference  # noqa: E402,F401
from kerasimb import layers  # noqa: E402,F401
from kerasimb import losses  # noqa: E402,F401
from kerasimb import metrics  # noqa: E402,F401
from kerasimb import models  # noqa: E402,F401
from kerasimb import methods  # noqa: E402,F401
from kerasimb import experiment  # noqa: E402,F401
from kerasimb import tuning  # noqa: E402,F401
from kerasimb.models.quadsnet import QuadSNet  # noqa: E402,F401

__all__ = [
    "QuadSNet",
    "__version__",
    "callbacks",
    "data",
    "experiment",
    "inference",
    "layers",
    "losses",
    "methods",
    "metrics",
    "models",
    "tuning",
]
