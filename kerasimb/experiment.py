"""`compare()`: train several methods under identical conditions and report them side by side.

Every method is trained with the same model, epochs, batch size, learning rate and seeds through
`Method.train`, predicts the test split through `Method.predict`, and is scored by
`kerasimb.metrics.report`. The `ComparisonResult` holds every report, the test probabilities and
the training curves; it prints a markdown table (mean ± standard deviation over seeds) and saves
`metrics.json`, `report.md`, `predictions.npz` and PNG plots.

Example:

>>> from kerasimb import experiment
>>> result = experiment.compare("digits-lt", epochs=30, seeds=[0, 1, 2])  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
>>> result.save("runs/digits")  # doctest: +SKIP
"""

import datetime
import json
import logging
import math
import os
import platform
import time

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.utils import runtime
from kerasimb.utils.validation import check_float, check_int

__all__ = ["DEFAULT_METRICS", "ComparisonResult", "compare", "format_stat"]

# The summary table's columns: imbalance-aware figures first, plain accuracy and AUC after.
DEFAULT_METRICS = (
    "balanced_accuracy",
    "macro_f1",
    "mcc",
    "quadratic_kappa",
    "smallest_class_recall",
    "accuracy",
    "auc",
)

_METRIC_DESCRIPTIONS = {
    "balanced_accuracy": "mean of the per-class recalls",
    "macro_f1": "unweighted mean of the per-class F1 scores",
    "mcc": "Matthews correlation coefficient (multi-class)",
    "quadratic_kappa": "Cohen's kappa with quadratic weights (meaningful for ordinal grades)",
    "smallest_class_recall": "recall of the class with the fewest training examples",
    "accuracy": "fraction of test images classified correctly",
    "auc": "area under the ROC curve (one-vs-rest macro average for more than 2 classes)",
    "kendall_tau": "Kendall rank correlation of true and predicted labels",
    "sensitivity": "recall of the positive class (binary tasks)",
    "specificity": "recall of the negative class (binary tasks)",
}


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _jsonable(value):
    """Converts numpy scalars/arrays and NaN to plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _finite_or_none(value)
    return value


def _stats(values):
    """Mean and sample standard deviation (`None` for one value) of the finite values."""
    finite = [v for v in (_finite_or_none(v) for v in values) if v is not None]
    if not finite:
        return {"mean": None, "std": None, "n": 0, "values": [_finite_or_none(v) for v in values]}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return {
        "mean": float(np.mean(finite)),
        "std": std,
        "n": len(finite),
        "values": [_finite_or_none(v) for v in values],
    }


@kerasimb_export("kerasimb.experiment.format_stat", serializable=False)
def format_stat(stat, digits=3):
    """Formats a `{"mean", "std"}` summary as `"0.812 ± 0.010"` (`"n/a"` without a mean).

    Example:

    >>> format_stat({"mean": 0.8125, "std": 0.0104})
    '0.812 ± 0.010'
    >>> format_stat({"mean": 0.5, "std": None}, digits=2)
    '0.50'
    """
    if stat["mean"] is None:
        return "n/a"
    text = f"{stat['mean']:.{digits}f}"
    if stat["std"] is not None:
        text += f" ± {stat['std']:.{digits}f}"
    return text


def _markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _safe_file_part(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


@kerasimb_export("kerasimb.experiment.ComparisonResult", serializable=False)
class ComparisonResult:
    """The outcome of `compare`: one metrics report per (method, seed), and summaries of them.

    Args:
        dataset: dict describing the dataset (name, class names, training class counts, split
            sizes, image shape, summary text).
        settings: dict of the exact training settings used.
        runs: list of dicts, one per (method, seed) in training order, with keys `method`,
            `seed`, `report` (the `metrics.report` dict on the test split), `history` (the
            `fit` history) and `seconds` (train + predict wall time).
        y_true: int array `(N,)`, the test labels.
        probabilities: dict `(method, seed) -> float array (N, C)` of test-set probabilities.

    Attributes:
        methods: list of str, the method labels in order.
        seeds: list of int.
        reports: dict `(method, seed) -> report dict`.
    """

    def __init__(self, dataset, settings, runs, y_true=None, probabilities=None):
        self.dataset = dict(dataset)
        self.settings = dict(settings)
        self.runs = list(runs)
        self.y_true = None if y_true is None else np.asarray(y_true)
        self.probabilities = dict(probabilities or {})

    # --- Views ---------------------------------------------------------------------------------

    @property
    def methods(self):
        return list(dict.fromkeys(run["method"] for run in self.runs))

    @property
    def seeds(self):
        return list(dict.fromkeys(run["seed"] for run in self.runs))

    @property
    def reports(self):
        return {(run["method"], run["seed"]): run["report"] for run in self.runs}

    def summary(self, metrics=DEFAULT_METRICS):
        """Returns `{method: {metric: {"mean", "std", "n", "values"}}}` over seeds.

        `std` is the sample standard deviation (ddof=1), `None` with a single seed. Undefined
        values (e.g. an AUC when a class is missing from the test split) are left out of the
        mean and counted out of `n`.
        """
        metrics = self._check_metrics(metrics)
        out = {}
        for method in self.methods:
            reports = [run["report"] for run in self.runs if run["method"] == method]
            out[method] = {m: _stats([r.get(m) for r in reports]) for m in metrics}
        return out

    def table(self, metrics=DEFAULT_METRICS, digits=3, rows=None, bold_best=False,
              corner="method", column_names=None):
        """Returns a markdown table: one row per method, `mean ± std` over seeds per metric.

        Args:
            metrics: sequence of report keys. Defaults to `DEFAULT_METRICS`.
            digits: int. Decimal places. Defaults to `3`.
            rows: `None` (every method, labelled as in `self.methods`) or a sequence of
                `(display name, method label)` pairs choosing and naming the rows, as a
                paper's table does. Defaults to `None`.
            bold_best: bool. Bold the best mean of each column. Defaults to `False`.
            corner: str. Header of the first column. Defaults to `"method"`.
            column_names: dict `metric -> header` for the metric columns. Defaults to the keys.
        """
        metrics = self._check_metrics(metrics)
        digits = check_int(digits, "digits", minimum=0)
        summary = self.summary(metrics)
        rows = [(m, m) for m in self.methods] if rows is None else list(rows)
        unknown = [label for _, label in rows if label not in summary]
        if unknown:
            raise ValueError(
                f"Invalid value received for argument `rows`. Expected method labels among "
                f"{self.methods}. Received: {unknown}"
            )
        best = {
            m: max((summary[label][m]["mean"] for _, label in rows
                    if summary[label][m]["mean"] is not None), default=None)
            for m in metrics
        }
        body = []
        for name, label in rows:
            cells = []
            for m in metrics:
                text = format_stat(summary[label][m], digits)
                if bold_best and best[m] is not None and summary[label][m]["mean"] == best[m]:
                    text = f"**{text}**"
                cells.append(text)
            body.append([name, *cells])
        names = column_names or {}
        return _markdown_table([corner, *(names.get(m, m) for m in metrics)], body)

    def per_class_recall(self):
        """Returns `{method: {class_name: {"mean", "std", "n", "values"}}}` over seeds."""
        out = {}
        for method in self.methods:
            reports = [run["report"] for run in self.runs if run["method"] == method]
            out[method] = {
                name: _stats([r["per_class_recall"].get(name) for r in reports])
                for name in self.dataset["class_names"]
            }
        return out

    def per_class_recall_table(self, digits=3):
        """Returns a markdown table: one row per class (with its training count), one column
        per method, `mean ± std` recall over seeds."""
        recall = self.per_class_recall()
        rows = []
        for name, count in zip(self.dataset["class_names"], self.dataset["class_counts"]):
            rows.append([name, count, *(format_stat(recall[m][name], digits) for m in self.methods)])
        return _markdown_table(["class", "train count", *self.methods], rows)

    def _check_metrics(self, metrics):
        if isinstance(metrics, str):
            metrics = (metrics,)
        metrics = tuple(metrics)
        available = set()
        for run in self.runs:
            available |= {k for k, v in run["report"].items() if v is None or np.isscalar(v)}
        unknown = [m for m in metrics if m not in available]
        if not metrics or unknown:
            raise ValueError(
                "Invalid value received for argument `metrics`. Expected scalar report keys, some "
                f"of {sorted(available)}. Received: metrics={list(metrics)}"
            )
        return metrics

    def __repr__(self):
        return (f"ComparisonResult(dataset={self.dataset['name']!r}, methods={self.methods}, "
                f"seeds={self.seeds})")

    def __str__(self):
        return self.table()

    def _repr_markdown_(self):
        return self.table()

    # --- Output --------------------------------------------------------------------------------

    def to_json(self):
        """Returns a JSON-serialisable dict: dataset, settings, summary and every run."""
        return _jsonable(
            {
                "dataset": self.dataset,
                "settings": self.settings,
                "summary": self.summary(),
                "runs": self.runs,
            }
        )

    def save(self, output_dir):
        """Writes the results to `output_dir` (created if needed) and returns the paths written.

        Files:
            - `metrics.json`: `to_json()`.
            - `report.md`: the dataset summary with its class counts, the exact settings, the
              results table, the per-class recall table and links to the plots.
            - `predictions.npz`: `y_true` and, per run, `"<method>/seed<seed>"` test
              probabilities `(N, C)`.
            - `class_distribution.png`: training examples per class (log scale when the
              imbalance ratio is 10 or more).
            - `per_class_recall.png`: recall per class for every method (mean over seeds, error
              bars = standard deviation).
            - `confusion_<method>.png`: each method's test confusion matrix, first seed.

        Args:
            output_dir: str or path-like.

        Returns:
            dict `name -> path` of the files written.
        """
        import contextlib

        from kerasimb.utils import plotting
        from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text

        output_dir = os.fspath(output_dir)
        os.makedirs(output_dir, exist_ok=True)
        paths = {}
        # Every file is written to a temporary name and renamed into place (atomic).
        temporary = contextlib.ExitStack()

        def path_of(name):
            paths[name] = os.path.join(output_dir, name)
            return temporary.enter_context(atomic_path(paths[name]))

        write_json(os.path.join(output_dir, "metrics.json"), self.to_json())
        paths["metrics.json"] = os.path.join(output_dir, "metrics.json")
        if self.probabilities:
            arrays = {f"{m}/seed{s}": p for (m, s), p in self.probabilities.items()}
            paths["predictions.npz"] = os.path.join(output_dir, "predictions.npz")
            write_npz(paths["predictions.npz"], y_true=self.y_true, **arrays)

        counts = self.dataset["class_counts"]
        names = self.dataset["class_names"]
        plotting.plot_class_distribution(
            counts, names, path=path_of("class_distribution.png"),
            log_scale=max(counts) >= 10 * min(counts),
            title=f"{self.dataset['name']}: training examples per class",
        )
        recall = self.per_class_recall()
        plotting.plot_per_class_recall(
            {m: [recall[m][n]["mean"] or 0.0 for n in names] for m in self.methods},
            names,
            errors={m: [recall[m][n]["std"] or 0.0 for n in names] for m in self.methods}
            if len(self.seeds) > 1 else None,
            path=path_of("per_class_recall.png"),
            title=f"{self.dataset['name']}: test recall per class",
        )
        confusion_files = {}
        first_seed = self.seeds[0]
        for method in self.methods:
            name = f"confusion_{_safe_file_part(method)}.png"
            plotting.plot_confusion_matrix(
                self.reports[(method, first_seed)]["confusion_matrix"], names,
                path=path_of(name), title=f"{method} (seed {first_seed})",
            )
            confusion_files[method] = name
        temporary.close()  # renames the plots into place
        paths["report.md"] = os.path.join(output_dir, "report.md")
        write_text(paths["report.md"], self._report_markdown(confusion_files))
        return paths

    def _report_markdown(self, confusion_files):
        d, s = self.dataset, self.settings
        n_seeds = len(self.seeds)
        spread = ("mean ± sample standard deviation over " f"{n_seeds} seeds" if n_seeds > 1
                  else "a single seed (no standard deviation)")
        lines = [
            f"# Comparison on {d['name']}",
            "",
            f"Written {s.get('finished', '')} by kerasimb "
            f"{s.get('versions', {}).get('kerasimb', '')}.",
            "",
            "## Dataset",
            "",
            "```",
            d["summary"],
            "```",
            "",
            _markdown_table(
                ["class", "train", "val", "test"],
                [[n, c, v, t] for n, c, v, t in zip(d["class_names"], d["class_counts"],
                                                    d["val_counts"], d["test_counts"])],
            ),
            "",
            "![training examples per class](class_distribution.png)",
            "",
            "## Settings",
            "",
            f"- model: `{s['backbone']}`",
            f"- epochs: {s['epochs']}, batch size: {s['batch_size']}, optimizer: {s['optimizer']} "
            f"(learning rate {s['learning_rate']})",
            f"- seeds: {s['seeds']} (each seeds weights and batch order)",
            f"- evaluation: {s['evaluated_on']} split, {d['test_size']} images; validation split "
            "scored after every epoch, " + (
                f"the weights of the epoch with the best validation `{s['select_by']}` are "
                "reported (`callbacks.BestValidationWeights`)" if s.get("select_by")
                else "no model selection (the last epoch is reported)"),
            "- methods:",
        ]
        for label, info in s["methods"].items():
            params = ", ".join(f"{k}={v!r}" for k, v in info["params"].items()) or "no parameters"
            lines.append(f"  - `{label}`: {info['description']} ({params})")
        versions = ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items())
        lines += [
            f"- software: {versions}",
            f"- total time: {s.get('total_seconds', 0.0):.1f} s",
            "",
            "## Results",
            "",
            f"Test-split figures, {spread}.",
            "",
            self.table(),
            "",
        ]
        lines += [f"- `{m}`: {_METRIC_DESCRIPTIONS.get(m, m)}" for m in DEFAULT_METRICS]
        lines += [
            "",
            "## Recall per class",
            "",
            f"Test recall of each class (label order, with its training count); {spread}.",
            "",
            self.per_class_recall_table(),
            "",
            "![recall per class](per_class_recall.png)",
            "",
            f"## Confusion matrices (seed {self.seeds[0]})",
            "",
        ]
        for method, name in confusion_files.items():
            lines += [f"### {method}", "", f"![{method}]({name})", ""]
        return "\n".join(lines)


def _dataset_info(dataset):
    num_classes = dataset.num_classes
    return {
        "name": dataset.name,
        "num_classes": num_classes,
        "class_names": list(dataset.class_names),
        "class_counts": list(dataset.class_counts),
        "val_counts": np.bincount(dataset.val[1], minlength=num_classes).tolist(),
        "test_counts": np.bincount(dataset.test[1], minlength=num_classes).tolist(),
        "image_shape": list(dataset.image_shape),
        "train_size": len(dataset.train[1]),
        "val_size": len(dataset.val[1]),
        "test_size": len(dataset.test[1]),
        "imbalance_ratio": float(dataset.imbalance_ratio),
        "ordinal": bool(dataset.ordinal),
        "summary": dataset.summary(),
    }


def _resolve_methods(methods):
    """Returns `[(label, Method instance)]` with unique labels."""
    from kerasimb import methods as registry

    if methods is None:
        methods = registry.names()
    elif isinstance(methods, (str, registry.Method)) or (
        isinstance(methods, type) and issubclass(methods, registry.Method)
    ):
        methods = [methods]
    else:
        methods = list(methods)
    if not methods:
        raise ValueError(
            "Invalid value received for argument `methods`. Expected `None` (every registered "
            f"method: {registry.names()}) or at least one method. Received: methods={methods!r}"
        )
    instances = [registry.get(m) for m in methods]
    labels = [m.name or type(m).__name__ for m in instances]
    for i, method in enumerate(instances):
        if labels.count(labels[i]) > 1:  # the same method twice with other parameters
            changed = {k: v for k, v in method.params.items() if method.defaults.get(k) != v}
            if changed:
                labels[i] += "(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(
            "Invalid value received for argument `methods`. Expected each method once. "
            f"Received duplicates: {duplicates}"
        )
    return list(zip(labels, instances))


def _check_seeds(seeds):
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(
            "Invalid type received for argument `seeds`. Expected a sequence of integers. "
            f"Received: seeds={seeds!r}"
        )
    seeds = [check_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            "Invalid value received for argument `seeds`. Expected a non-empty sequence of "
            f"distinct integers. Received: seeds={seeds}"
        )
    return seeds


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's retracing warning: every run builds a new model, so its `predict`
    function is traced anew by design."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _versions():
    import keras
    import tensorflow as tf

    import kerasimb

    return {"kerasimb": kerasimb.__version__, "keras": keras.__version__,
            "tensorflow": tf.__version__, "python": platform.python_version()}


def _selection_callbacks(select_by, dataset, method):
    """`[BestValidationWeights]` for model selection on the validation split, or `[]`.

    Scores with `method.predict`; a method wrapping another (a modifier such as `+perturb`,
    whose prediction needs state prepared after training) is scored with the wrapped method's.
    """
    if select_by is None:
        return []
    from kerasimb.callbacks.best_weights import BestValidationWeights

    scorer = getattr(method, "base", method)
    return [BestValidationWeights(*dataset.val, monitor=select_by, predict_fn=scorer.predict)]


def _strategy_text(strategy):
    """`"none"`, or the strategy's class name and replica count (for the saved settings)."""
    if strategy is None:
        return "none"
    return f"{type(strategy).__name__}({strategy.num_replicas_in_sync} replicas)"


@kerasimb_export("kerasimb.experiment.compare", serializable=False)
def compare(
    dataset,
    methods=None,
    backbone="small_cnn",
    epochs=20,
    seeds=(0,),
    batch_size=32,
    learning_rate=1e-3,
    verbose=0,
    progress=True,
    callbacks=(),
    select_by=None,
    output_dir=None,
    overwrite=False,
    mixed_precision=None,
    distribute=None,
    jit_compile="auto",
):
    """Trains every method on `dataset` under identical conditions and scores it on the test split.

    For each method and seed: `keras.backend.clear_session()`, then `method.train(dataset,
    model_fn, epochs, batch_size, learning_rate, seed)` (which seeds weights and batches; the
    validation split is scored every epoch), then `method.predict(model, test images)` and
    `metrics.report(...)` on the test split. The model of the last epoch is evaluated (no
    model selection) unless `select_by` is given, the same for every method. Runs are
    deterministic given the seeds on the same machine and software.

    Args:
        dataset: an `ImageDataset`, or a name for `data.load_dataset` (e.g. `"digits-lt"`).
        methods: `None` (every registered method, `methods.names()`), or a sequence of method
            names, `Method` subclasses or instances (one method alone is accepted too). The same
            method twice with different parameters gets labels like
            `reweight(weighting='sqrt_inverse')`.
        backbone: str or callable. `"small_cnn"` or a backbone name for `models.model_fn`, or a
            callable `(input_shape, num_classes) -> keras.Model` with logits output.
            Defaults to `"small_cnn"`.
        epochs: int >= 1. Defaults to `20`.
        seeds: non-empty sequence of distinct ints >= 0. Defaults to `(0,)`.
        batch_size: int >= 1. Defaults to `32`.
        learning_rate: float > 0. Adam learning rate. Defaults to `1e-3`.
        verbose: `fit` verbosity. Defaults to `0`.
        progress: bool. Show a tqdm progress bar over the (method, seed) runs. Defaults to `True`.
        callbacks: extra Keras callbacks passed to every `fit`. Defaults to `()`.
        select_by: `None` (evaluate the last epoch) or a `metrics.report` key such as `"mcc"`,
            `"quadratic_kappa"` or `"balanced_accuracy"`: model selection on the validation
            split. A `callbacks.BestValidationWeights(x_val, y_val, select_by,
            predict_fn=method.predict)` is added to every run's `fit`, which restores the
            weights of the epoch with the best validation score before the test split is
            scored. Defaults to `None`.
        output_dir: `None` or a folder that makes the comparison resumable. Each finished
            (method, seed) run is written to `output_dir/runs/` (atomically) as soon as it ends,
            and an unfinished run keeps a `callbacks.ResumableBackup` after every epoch in
            `output_dir/backup/`. Calling `compare` again with the same arguments and folder
            (after a crash, `kill` or Ctrl-C) loads the finished runs instead of training them
            and continues the unfinished one from its last completed epoch, giving the same
            metrics as an uninterrupted run (see the README's determinism notes; two-stage
            methods continue stage 1 and redo stage 2; progressive sampling resumes on slightly
            different batches). Callbacks with `run_arrays()` / `restore_run_arrays(arrays)`
            (e.g. `callbacks.FeatureSnapshot`) have their per-run arrays kept with each finished
            run and handed back when it is loaded. Defaults to `None`.
        overwrite: bool. With `output_dir`, discard its saved runs and backups first instead of
            resuming. Defaults to `False`.
        mixed_precision: `None` (float32), `"mixed_float16"`, `"mixed_bfloat16"` or `"auto"`
            (float16 on a GPU, bfloat16 otherwise): the Keras dtype policy under which every
            model is built, trained and scored (see `kerasimb.utils.precision_policy`). Model
            outputs, losses and metrics stay float32. Defaults to `None`.
        distribute: `None`/`"none"`, `"mirrored"`, `"multiworker"`, `"tpu"` or a
            `tf.distribute.Strategy`: every run builds, compiles and trains its model under the
            strategy's scope (`kerasimb.utils.make_strategy`); `batch_size` is the global batch
            size, split across the replicas. Defaults to `None`.
        jit_compile: `"auto"` (XLA on a GPU only, Keras' rule), `True` or `False`: XLA for
            the training steps. Defaults to `"auto"`.

    Returns:
        A `ComparisonResult`.

    Raises:
        ValueError: an unknown method name (the message lists the registered ones), no methods,
            `epochs` < 1, empty or repeated `seeds`, an unknown backbone name, `batch_size`
            larger than the training split.
        TypeError: a `dataset` that is neither an `ImageDataset` nor a name.
        ValueError: `output_dir` holds runs made with other settings (dataset, backbone,
            epochs, batch size, learning rate, method parameters, `select_by`), unless
            `overwrite=True`.
    """
    from tqdm.auto import tqdm

    import keras

    from kerasimb import metrics
    from kerasimb.models import model_fn

    if not isinstance(dataset, (ImageDataset, str)):
        raise TypeError(
            "Invalid type received for argument `dataset`. Expected an `ImageDataset` or a "
            f"dataset name. Received: dataset of type {type(dataset).__name__}"
        )
    method_list = _resolve_methods(methods)
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0, min_inclusive=False)
    seeds = _check_seeds(seeds)
    policy = runtime.resolve_precision(mixed_precision, "mixed_precision")
    jit_compile = runtime.check_jit_compile(jit_compile)
    strategy = runtime.make_strategy(distribute)
    if isinstance(backbone, str):
        make_model = model_fn(backbone)
        backbone_text = make_model.name
    elif callable(backbone):
        make_model = backbone
        backbone_text = getattr(backbone, "__name__", None) or repr(backbone)
    else:
        raise TypeError(
            "Invalid type received for argument `backbone`. Expected a model name or a callable "
            f"(input_shape, num_classes) -> keras.Model. Received: backbone={backbone!r}"
        )
    callbacks = list(callbacks)
    if select_by is not None:
        from kerasimb.callbacks.best_weights import SELECTABLE

        if select_by not in SELECTABLE:
            raise ValueError(
                "Invalid value received for argument `select_by`. Expected None or one of "
                f"{list(SELECTABLE)}. Received: select_by={select_by!r}"
            )
    if isinstance(dataset, str):  # load only once every other argument is known to be valid
        from kerasimb.data import load_dataset

        dataset = load_dataset(dataset)
    if batch_size > len(dataset.train[1]):  # before any training starts
        raise ValueError(
            "Invalid value received for argument `batch_size`. Expected at most the number of "
            f"training examples ({len(dataset.train[1])} in {dataset.name}). "
            f"Received: batch_size={batch_size}"
        )

    settings = {
        "methods": {
            label: {"class": type(m).__name__, "params": dict(m.params),
                    "description": m.description}
            for label, m in method_list
        },
        "backbone": backbone_text,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": "Adam",
        "seeds": seeds,
        "evaluated_on": "test",
        "callbacks": [type(c).__name__ for c in callbacks],
        "select_by": select_by,
        "mixed_precision": policy,
        "distribute": _strategy_text(strategy),
        "jit_compile": jit_compile,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    store = None
    if output_dir is not None:
        from kerasimb._run_store import (RunStore, callback_arrays, dataset_fingerprint,
                                         restore_callback_arrays)

        store = RunStore(output_dir, overwrite=bool(overwrite))
        common = {key: settings[key] for key in ("backbone", "epochs", "batch_size",
                                                 "learning_rate", "optimizer", "callbacks",
                                                 "select_by", "mixed_precision", "distribute",
                                                 "jit_compile")}
        common["dataset"] = dataset_fingerprint(dataset)
    x_test, y_test = dataset.test
    runs, probabilities = [], {}
    start = time.perf_counter()
    retracing_filter = _RetracingFilter()
    logging.getLogger("tensorflow").addFilter(retracing_filter)
    bar = tqdm(total=len(method_list) * len(seeds), desc=f"compare on {dataset.name}",
               unit="run", disable=not progress)
    try:
        for label, method in method_list:
            for seed in seeds:
                bar.set_postfix_str(f"{label}, seed {seed}")
                backup = []
                if store is not None:
                    fingerprint = json.loads(json.dumps(_jsonable(
                        {**common, "method": settings["methods"][label], "seed": seed})))
                    finished = store.load(label, seed, fingerprint)
                    if finished is not None:
                        runs.append(finished[0])
                        probabilities[(label, seed)] = finished[1]
                        restore_callback_arrays(callbacks, store.load_arrays(label, seed))
                        bar.update(1)
                        continue
                    from kerasimb.callbacks.backup import ResumableBackup

                    backup = [ResumableBackup(store.start(label, seed, fingerprint),
                                              delete_checkpoint=False)]
                keras.backend.clear_session()
                run_start = time.perf_counter()
                with runtime.run_context(policy, strategy):
                    model, history = method.train(
                        dataset, make_model, epochs=epochs, batch_size=batch_size,
                        learning_rate=learning_rate, seed=seed,
                        callbacks=callbacks + _selection_callbacks(select_by, dataset, method)
                        + backup,
                        verbose=verbose,
                        jit_compile=jit_compile,
                    )
                    probs = np.asarray(method.predict(model, x_test), dtype=np.float32)
                history_dict = backup[0].history(history.history) if backup else history.history
                seconds = time.perf_counter() - run_start
                report = metrics.report(
                    y_test, probs, class_names=dataset.class_names,
                    class_counts=dataset.class_counts,
                )
                runs.append({
                    "method": label,
                    "seed": seed,
                    "report": _jsonable(report),
                    "history": _jsonable({k: list(v) for k, v in history_dict.items()}),
                    "seconds": round(seconds, 3),
                })
                probabilities[(label, seed)] = probs
                if store is not None:
                    store.save(label, seed, fingerprint, runs[-1], probs,
                               arrays=callback_arrays(callbacks))
                del model
                bar.update(1)
    finally:
        bar.close()
        logging.getLogger("tensorflow").removeFilter(retracing_filter)
        keras.backend.clear_session()
    settings["total_seconds"] = round(time.perf_counter() - start, 3)
    settings["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    return ComparisonResult(_dataset_info(dataset), settings, runs, y_test, probabilities)
