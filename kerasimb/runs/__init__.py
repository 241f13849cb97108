"""Runs and their results: `compare` methods, the result object, its report, and the store
that makes an output folder resumable.

- `compare(dataset, methods, ...)` -> `ComparisonResult` (`kerasimb.runs.compare`);
  `run_fingerprint`: the settings a saved run of it must match to be reused.
- `train(dataset, method, output_dir, ...)`: one method, its models saved to deploy
  (`kerasimb.runs.train`); `evaluate(model, dataset)` and `predict(model, inputs)` use them
  (`kerasimb.runs.evaluate`, `kerasimb.runs.predict`).
- `ComparisonResult`: what was measured, as data (`kerasimb.runs.result`).
- `kerasimb.runs.report`: markdown tables, `report.md`, `metrics.json`, predictions, plots.
- `RunStore`, `dataset_fingerprint`, `default_output`, `check_output_dir`: finished runs on disk
  (`kerasimb.runs.store`); `train_resumable`: one run that survives a killed process
  (`kerasimb.runs.resume`).
- `manifest.json`: the experiment an output folder holds and every file written there, with
  its SHA-256 (`check_experiment`, `start_experiment`, `write_manifest`, `read_manifest`;
  `kerasimb.runs.manifest`). An output folder belongs to one experiment.
- `compare(..., shard=(K, N))`: shard K of N of a comparison, beside the others on one shared
  folder (`shard_runs`, `check_shard`: `kerasimb.runs.shard`); `RunLock`: the lock file a
  process holds while it trains a run there (`kerasimb.runs.lock`).

`runs` is the only part of kerasimb that decides what goes into an output folder.
"""

from kerasimb.runs import report
from kerasimb.runs.compare import (compare, compare_kwargs, dataset_info, run_fingerprint,
                                   tensorboard_callbacks)
from kerasimb.runs.lock import RunLock, RunLockHeld
from kerasimb.runs.manifest import (MANIFEST, check_experiment, lists_unchanged, read_manifest,
                                    start_experiment, write_manifest)
from kerasimb.runs.shard import check_shard, shard_runs
from kerasimb.runs.evaluate import (dataset_for, evaluate, load_model, per_class_table,
                                    shown_metrics, write_image_predictions_csv)
from kerasimb.runs.predict import find_images, predict
from kerasimb.runs.report import DEFAULT_METRICS
from kerasimb.runs.result import ComparisonResult
from kerasimb.runs.resume import train_resumable
from kerasimb.runs.train import model_paths, train
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
    "MANIFEST",
    "ComparisonResult",
    "RunLock",
    "RunLockHeld",
    "RunStore",
    "callback_arrays",
    "check_experiment",
    "check_output_dir",
    "check_shard",
    "compare",
    "compare_kwargs",
    "dataset_fingerprint",
    "dataset_for",
    "dataset_info",
    "tensorboard_callbacks",
    "default_output",
    "evaluate",
    "find_images",
    "lists_unchanged",
    "load_model",
    "model_paths",
    "per_class_table",
    "predict",
    "read_manifest",
    "report",
    "restore_callback_arrays",
    "run_fingerprint",
    "shard_runs",
    "start_experiment",
    "train",
    "train_resumable",
    "shown_metrics",
    "write_image_predictions_csv",
    "write_manifest",
]
