"""Runs and their results: `compare` methods, the result object, its report, and the store
that makes an output folder resumable.

- `compare(dataset, methods, ...)` -> `ComparisonResult` (`kerasimb.runs.compare`).
- `ComparisonResult`: what was measured, as data (`kerasimb.runs.result`).
- `kerasimb.runs.report`: markdown tables, `report.md`, `metrics.json`, predictions, plots.
- `RunStore`, `dataset_fingerprint`, `default_output`, `check_output_dir`: finished runs on disk
  (`kerasimb.runs.store`); `train_resumable`: one run that survives a killed process
  (`kerasimb.runs.resume`).

`runs` is the only part of kerasimb that decides what goes into an output folder.
"""

from kerasimb.runs import report
from kerasimb.runs.compare import compare, compare_kwargs, dataset_info
from kerasimb.runs.report import DEFAULT_METRICS
from kerasimb.runs.result import ComparisonResult
from kerasimb.runs.resume import train_resumable
from kerasimb.runs.store import (
    RunStore,
    callback_arrays,
    check_output_dir,
    dataset_fingerprint,
    default_output,
    restore_callback_arrays,
)

__all__ = [
    "DEFAULT_METRICS",
    "ComparisonResult",
    "RunStore",
    "callback_arrays",
    "check_output_dir",
    "compare",
    "compare_kwargs",
    "dataset_fingerprint",
    "dataset_info",
    "default_output",
    "report",
    "restore_callback_arrays",
    "train_resumable",
]
