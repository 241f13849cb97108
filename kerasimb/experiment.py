"""`kerasimb.experiment`: the former home of `compare`, kept as an alias of `kerasimb.runs`.

`experiment.compare`, `experiment.ComparisonResult`, `experiment.DEFAULT_METRICS` and
`experiment.format_stat` are the same objects as `runs.compare`, `runs.ComparisonResult`,
`runs.DEFAULT_METRICS` and `utils.formatting.format_stat`; new code should use those.

>>> from kerasimb import experiment, runs
>>> experiment.compare is runs.compare
True
"""

from kerasimb.runs import DEFAULT_METRICS, ComparisonResult, compare
from kerasimb.utils.formatting import format_stat

__all__ = ["DEFAULT_METRICS", "ComparisonResult", "compare", "format_stat"]
