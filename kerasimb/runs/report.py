"""Writing a comparison out: markdown tables, `report.md`, `metrics.json`, CSV files, plots.

Every function takes a `ComparisonResult` (or anything with its `dataset`, `settings`, `runs`,
`methods`, `seeds`, `summary()` and `per_class_recall()`); nothing here trains or scores.

Example:

>>> from kerasimb.runs import ComparisonResult
>>> result = ComparisonResult(
...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
...     [{"method": "ce", "seed": 0, "report": {"mcc": 0.5}}])
>>> print(comparison_table(result, ["mcc"]))
| method | mcc |
|---|---|
| ce | 0.500 |
"""

import contextlib
import math
import os

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.methods.optimization import describe_training
from kerasimb.metrics.calibration import CALIBRATION_METRICS, reliability_bins
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.runs.manifest import MANIFEST, start_experiment, write_manifest
from kerasimb.runs.store import run_name
from kerasimb.utils import plotting
from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text
from kerasimb.utils.class_figures import per_class_scores
from kerasimb.utils.formatting import format_stat, markdown_table, mean_std, safe_name, write_csv
from kerasimb.utils.validation import check_int

__all__ = ["DEFAULT_METRICS", "FILE_DESCRIPTIONS", "METRIC_DESCRIPTIONS", "METRIC_NAMES",
           "ORDINAL_METRICS", "calibration_lines", "calibration_table", "comparison_table",
           "counts_in_test_split", "default_metrics", "divergence_notes", "external_lines",
           "median_table", "run_text",
           "per_class_recall_table", "report_markdown", "save_comparison", "single_class_runs",
           "summed_confusion_matrix", "versus_baseline_text", "write_per_class_csv",
           "write_predictions_csv", "write_summary_csv"]

# The summary table's columns for ordinal classes: imbalance-aware figures first, plain accuracy
# and AUC after (every scalar report key but Kendall's τ, which the recipes of ordinal tasks add).
DEFAULT_METRICS = tuple(m for m in SCALAR_METRICS if m != "kendall_tau")

# Figures that only mean something when the classes are ordered grades: left out of the default
# tables, explanations and CSV files of nominal datasets (`default_metrics`). A recipe whose
# paper reports them asks for them by name and still gets them.
ORDINAL_METRICS = ("quadratic_kappa",)

# How the `augment` presets are described in reports.
AUGMENT_TEXT = {
    "flip": "random horizontal and vertical flips",
    "hflip": "random horizontal flip",
    "rotate30": "random horizontal flip, rotation up to ±30°, crop (56-100 % of the area) "
                "resized back",
    "standard": "random flips, rotation up to ±15°, crop (80-100 % of the area) resized back, "
                "and brightness / contrast / saturation jitter for RGB images",
}

METRIC_DESCRIPTIONS = {
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
    "ece": "expected calibration error: mean gap between confidence and accuracy over 15 "
           "equal-mass bins of the top probability (smaller is better)",
    "classwise_ece": "the same per class, one-vs-rest on each class's probability, averaged "
                     "over classes (smaller is better)",
    "brier": "Brier score: mean over images of the summed squared error of the probabilities "
             "(0 to 2, smaller is better)",
    "nll": "negative log-likelihood of the true class, mean over images (smaller is better)",
}


@kerasimb_export("kerasimb.runs.report.default_metrics", serializable=False)
def default_metrics(ordinal=False):
    """The metrics a report shows by default: `DEFAULT_METRICS`, without the quadratic kappa
    (`ORDINAL_METRICS`) unless the classes are ordinal grades.

    Cohen's kappa with quadratic weights charges a mistake by the squared distance between
    class indices, which has no meaning for nominal classes (tissue types, lesion kinds).

    Args:
        ordinal: bool. Whether the classes are ordered grades (`ImageDataset.ordinal`,
            `result.dataset["ordinal"]`). Defaults to `False`.

    Returns:
        tuple of str.

    Raises:
        TypeError: `ordinal` is not a bool.

    Example:

    >>> "quadratic_kappa" in default_metrics(True), "quadratic_kappa" in default_metrics(False)
    (True, False)
    """
    if not isinstance(ordinal, (bool, np.bool_)):
        raise TypeError(
            "Invalid type received for argument `ordinal`. Expected a bool. "
            f"Received: ordinal={ordinal!r}"
        )
    if ordinal:
        return DEFAULT_METRICS
    return tuple(m for m in DEFAULT_METRICS if m not in ORDINAL_METRICS)


def _diverged_runs(result):
    return [run for run in result.runs if run.get("diverged")]


def _diverged_text(runs):
    """`"diverged at epoch 2"` (or `"diverged at epochs 1, 3"`) for the diverged runs of a
    method."""
    epochs = sorted({run["diverged"]["epoch"] for run in runs})
    return (f"diverged at epoch {epochs[0]}" if len(epochs) == 1
            else "diverged at epochs " + ", ".join(str(e) for e in epochs))


@kerasimb_export("kerasimb.runs.report.divergence_notes", serializable=False)
def divergence_notes(result, methods=None):
    """Returns one markdown bullet per diverged run (see `compare`'s `stop_on_divergence`): when
    and why it diverged, and that it has no scores and is left out of the mean ± std; `[]` when
    no run diverged.

    Args:
        result: `ComparisonResult`.
        methods: the method labels to describe, or `None` for all. Defaults to `None`.

    Example:

    >>> from kerasimb.runs import ComparisonResult
    >>> result = ComparisonResult(
    ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
    ...     [{"method": "ce", "seed": 0, "report": {}, "diverged": {
    ...         "epoch": 3, "last_finite_loss": 2.25, "reason": "the training loss became nan"}}])
    >>> print(divergence_notes(result)[0])
    - `ce` seed 0 diverged at epoch 3 (the training loss became nan; last finite training loss 2.25): no scores, left out of the mean ± std.
    """
    notes = []
    for run in _diverged_runs(result):
        if methods is not None and run["method"] not in methods:
            continue
        info = run["diverged"]
        loss = info.get("last_finite_loss")
        loss = "none" if loss is None else format(loss, ".4g")
        notes.append(f"- `{run['method']}` {run_text(run['seed'])} diverged at epoch "
                     f"{info['epoch']} "
                     f"({info.get('reason') or 'non-finite values'}; last finite training loss "
                     f"{loss}): no scores, left out of the mean ± std.")
    return notes


def _result_metrics(result, metrics):
    if metrics is None:
        return default_metrics(bool(result.dataset.get("ordinal", False)))
    return metrics


# How the `vs baseline` explanation names a metric.
METRIC_NAMES = {"balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1", "mcc": "MCC",
                "quadratic_kappa": "quadratic kappa", "smallest_class_recall":
                "smallest-class recall", "accuracy": "accuracy", "auc": "AUC",
                "kendall_tau": "Kendall's tau"}


def _signed(value, digits):
    """`+0.031` / `−0.004` (a true minus sign), `+0.000` for a rounded zero."""
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return f"+{abs(float(text)):.{digits}f}"
    return text.replace("-", "\u2212")


@kerasimb_export("kerasimb.runs.report.versus_baseline_text", serializable=False)
def versus_baseline_text(comparison, digits=3):
    """The `vs baseline` cell of one method: its paired difference from the baseline and the
    interval, `+0.031 [−0.004, +0.066]` (true minus signs), or `n/a` without a paired seed.

    Args:
        comparison: dict, one method's entry of `ComparisonResult.versus_baseline()`.
        digits: int. Decimal places. Defaults to `3`.

    Example:

    >>> versus_baseline_text({"difference": 0.0312, "low": -0.0041, "high": 0.0664})
    '+0.031 [\u22120.004, +0.066]'
    >>> versus_baseline_text({"difference": None, "low": None, "high": None})
    'n/a'
    """
    values = [comparison.get(k) for k in ("difference", "low", "high")]
    if any(v is None or not np.isfinite(v) for v in values):
        return "n/a"
    difference, low, high = (_signed(v, digits) for v in values)
    return f"{difference} [{low}, {high}]"


def _versus_notes(result, versus, labels, names=None):
    """The sentences under the table that say what the `vs baseline` column holds; `names`
    (`{label: row name}`) names the baseline by its row, e.g. "instance sampling (`ce`)"."""
    entries = [versus[label] for label in labels if label in versus]
    if not entries:
        return []
    first = entries[0]
    metric, baseline = first["metric"], first["baseline"]
    shown = (names or {}).get(baseline, baseline)
    named = f"`{baseline}`" if shown == baseline else f"{shown} (`{baseline}`)"
    unit = "fold" if _folds(result) else "seed"
    lines = [f"`vs baseline`: paired difference in {METRIC_NAMES.get(metric, metric)} vs "
             f"{named}, {first['confidence']:.0%} bootstrap interval over {unit}s and "
             f"test images, {first['draws']:,} draws."]
    all_seeds = list(result.seeds)
    if _folds(result):
        pass  # (K >= 2 folds; the interval's reliability is `paired_bootstrap`'s `reliable`)
    elif len(all_seeds) < 3:
        count = "1 seed" if len(all_seeds) == 1 else f"{len(all_seeds)} seeds"
        lines.append(f"With {count} the interval is unreliable: fewer than 3 seeds say little "
                     "about the spread between training runs.")
    for label in labels:
        entry = versus.get(label)
        if entry is None or entry["seeds"] == all_seeds:
            continue
        if not entry["seeds"]:
            lines.append(f"`{label}` has no {unit} paired with `{baseline}` (diverged runs).")
            continue
        few = (", too few for a reliable interval" if len(entry["seeds"]) < 3 <= len(all_seeds)
               else "")
        lines.append(f"`{label}` is paired with `{baseline}` on {unit}s {entry['seeds']} only "
                     f"(the others diverged){few}.")
    return lines


@kerasimb_export("kerasimb.runs.report.comparison_table", serializable=False)
def comparison_table(result, metrics=None, digits=3, rows=None, bold_best=False,
                     corner="method", column_names=None, versus_baseline=True):
    """Returns a markdown table: one row per method, `mean ± std` over seeds per metric, and a
    `vs baseline` column.

    Runs that diverged (`result.diverged()`) are left out of the means; a method whose every
    run diverged reads `diverged at epoch k` instead of scores, and one line per diverged run
    (`divergence_notes`) follows the table.

    The `vs baseline` column (when the result holds per-image test predictions of two methods
    or more) gives each method's paired difference from the baseline in the main metric with
    its 95 % bootstrap interval over seeds and test images, e.g. `+0.031 [−0.004, +0.066]`
    (`ComparisonResult.versus_baseline`, `metrics.paired_bootstrap`); the baseline's row says
    `baseline`. A line under the table says what the column holds, and that the interval is
    unreliable with fewer than 3 seeds.

    Args:
        result: `ComparisonResult`.
        metrics: sequence of report keys, or `None` for `default_metrics` of the dataset
            (the quadratic kappa only for ordinal classes). Defaults to `None`.
        digits: int. Decimal places. Defaults to `3`.
        rows: `None` (every method, labelled as in `result.methods`) or a sequence of
            `(display name, method label)` pairs choosing and naming the rows, as a paper's
            table does. Defaults to `None`.
        bold_best: bool. Bold the best mean of each column. Defaults to `False`.
        corner: str. Header of the first column. Defaults to `"method"`.
        column_names: dict `metric -> header` for the metric columns. Defaults to the keys.
        versus_baseline: bool. Show the `vs baseline` column when the result can give it.
            Defaults to `True`.

    Raises:
        ValueError: unknown metrics or row labels.
    """
    metrics = result.check_metrics(_result_metrics(result, metrics))
    digits = check_int(digits, "digits", minimum=0)
    summary = result.summary(metrics)
    rows = [(m, m) for m in result.methods] if rows is None else list(rows)
    unknown = [label for _, label in rows if label not in summary]
    if unknown:
        raise ValueError(
            f"Invalid value received for argument `rows`. Expected method labels among "
            f"{result.methods}. Received: {unknown}"
        )
    best = {
        m: max((summary[label][m]["mean"] for _, label in rows
                if summary[label][m]["mean"] is not None), default=None)
        for m in metrics
    }
    body = []
    for name, label in rows:
        runs = result.runs_of(label)
        diverged = [run for run in runs if run.get("diverged")]
        cells = []
        for m in metrics:
            if runs and len(diverged) == len(runs):
                cells.append(_diverged_text(diverged))
                continue
            text = format_stat(summary[label][m], digits)
            if bold_best and best[m] is not None and summary[label][m]["mean"] == best[m]:
                text = f"**{text}**"
            cells.append(text)
        body.append([name, *cells])
    labels = [label for _, label in rows]
    compute = getattr(result, "versus_baseline", None) if versus_baseline else None
    has_predictions = ((getattr(result, "y_true", None) is not None
                        or getattr(result, "test_labels", None) is not None)
                       and bool(getattr(result, "probabilities", None)))
    versus = compute() if compute is not None and has_predictions else {}
    header = [corner, *((column_names or {}).get(m, m) for m in metrics)]
    if versus:
        header.append("vs baseline")
        for row, label in zip(body, labels):
            row.append("baseline" if label not in versus else
                       versus_baseline_text(versus[label], digits))
    parts = [markdown_table(header, body)]
    names = {label: name for name, label in rows}
    parts += [" ".join(_versus_notes(result, versus, labels, names))] if versus else []
    notes = divergence_notes(result, labels)
    parts += ["\n".join(notes)] if notes else []
    return "\n\n".join(parts)


@kerasimb_export("kerasimb.runs.report.per_class_recall_table", serializable=False)
def per_class_recall_table(result, digits=3):
    """Returns a markdown table: one row per class (with its training count), one column per
    method, `mean ± std` recall over seeds."""
    recall = result.per_class_recall()
    d = result.dataset
    scored = result.scored_methods()
    rows = [[name, count, *(format_stat(recall[m][name], digits) if m in scored else
                            _diverged_text(result.runs_of(m)) for m in result.methods)]
            for name, count in zip(d["class_names"], d["class_counts"])]
    return markdown_table(["class", "train count", *result.methods], rows)


@kerasimb_export("kerasimb.runs.report.summed_confusion_matrix", serializable=False)
def summed_confusion_matrix(result, method):
    """Returns the test confusion matrix of `method` summed over its seeds: int array `(C, C)`,
    rows the true classes, columns the predictions; each test image counted once per seed.

    Runs that diverged have no confusion matrix and are left out.

    Raises:
        ValueError: `method` is not one of `result.methods`, or every run of it diverged.

    Example:

    >>> from kerasimb.runs import ComparisonResult
    >>> result = ComparisonResult(
    ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
    ...     [{"method": "ce", "seed": s, "report": {"confusion_matrix": m}}
    ...      for s, m in [(0, [[2, 0], [1, 1]]), (1, [[1, 1], [0, 2]])]])
    >>> summed_confusion_matrix(result, "ce").tolist()
    [[3, 1], [1, 3]]
    """
    if method not in result.methods:
        raise ValueError(
            f"Invalid value received for argument `method`. Expected one of {result.methods}. "
            f"Received: method={method!r}"
        )
    matrices = [np.asarray(run["report"]["confusion_matrix"], dtype=np.int64)
                for run in result.runs_of(method) if not run.get("diverged")]
    if not matrices:
        raise ValueError(
            f"Invalid value received for argument `method`. Expected a method with a run that "
            f"did not diverge. Received: method={method!r}, whose every run diverged")
    return np.sum(matrices, axis=0)


def _predicted_classes(result, run):
    """Indices of the classes the model of `run` predicted on the test split."""
    matrix = run["report"].get("confusion_matrix")
    if matrix is not None:
        return np.flatnonzero(np.asarray(matrix).sum(axis=0) > 0)
    probabilities = result.probabilities.get((run["method"], run["seed"]))
    if probabilities is None:
        return None
    return np.unique(np.asarray(probabilities).argmax(axis=1))


@kerasimb_export("kerasimb.runs.report.single_class_runs", serializable=False)
def single_class_runs(result):
    """Returns the runs whose model predicted one class for every test image: a list of
    `(method, seed, class name)`, in run order.

    Such a model scores a balanced accuracy of 1 / C whatever its accuracy, so a report warns
    about it rather than letting its mean over seeds pass for a result.

    Example:

    >>> from kerasimb.runs import ComparisonResult
    >>> result = ComparisonResult(
    ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
    ...     [{"method": "ce", "seed": 0, "report": {"confusion_matrix": [[5, 0], [2, 0]]}},
    ...      {"method": "ce", "seed": 1, "report": {"confusion_matrix": [[4, 1], [1, 1]]}}])
    >>> single_class_runs(result)
    [('ce', 0, 'a')]
    """
    names = result.dataset["class_names"]
    found = []
    for run in result.runs:
        classes = _predicted_classes(result, run)
        if classes is not None and len(classes) == 1:
            found.append((run["method"], run["seed"], str(names[int(classes[0])])))
    return found


@kerasimb_export("kerasimb.runs.report.counts_in_test_split", serializable=False)
def counts_in_test_split(result):
    """Returns the test images per class (`result.dataset["test_counts"]`, else counted from
    `result.y_true`), a list of int, or `None` when neither is known."""
    counts = result.dataset.get("test_counts")
    if counts is None and result.y_true is not None:
        counts = np.bincount(np.asarray(result.y_true, dtype=np.int64),
                             minlength=len(result.dataset["class_names"])).tolist()
    return None if counts is None else [int(c) for c in counts]


def run_text(seed):
    """How a report names a run: `"seed 3"`, or a run's own name such as `"fold0"`.

    >>> run_text(3), run_text("fold0")
    ('seed 3', 'fold0')
    """
    return seed if isinstance(seed, str) else f"seed {seed}"


def _folds(result):
    return (result.settings or {}).get("folds") or None


def _spread(result):
    n_seeds = len(result.seeds)
    if _folds(result):
        return f"mean ± sample standard deviation over {n_seeds} folds"
    return (f"mean ± sample standard deviation over {n_seeds} seeds" if n_seeds > 1
            else "a single seed (no standard deviation)")


def _balanced_test_note(result):
    counts = counts_in_test_split(result)
    if not counts or min(counts) == 0 or len(set(counts)) != 1:
        return []
    return [f"The test split is balanced ({counts[0]} images in every class), so accuracy "
            "equals balanced accuracy here.", ""]


def _single_class_warnings(result):
    lines = []
    for method, seed, name in single_class_runs(result):  # one paragraph each
        lines += [f"**Warning:** `{method}` ({run_text(seed)}) predicts a single class, `{name}`, "
                  "for every test image; its figures describe a constant prediction, not a "
                  "classifier.", ""]
    return lines


def _confusion_heading(result):
    seeds = result.seeds
    if _folds(result):
        return f"summed over {len(seeds)} folds"
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"summed over {len(seeds)} seeds"


FILE_DESCRIPTIONS = {
    "metrics.json": "every figure of every run, the settings and the summary",
    "summary.csv": "one row per method: mean, standard deviation and number of seeds per metric",
    "per_class.csv": "one row per method, seed and class: training count, test count, recall, "
                     "precision, F1",
    "predictions.csv": "one row per method, seed and test image: true class, predicted class, "
                       "one probability per class",
    "predictions.npz": "the test labels and every run's test probabilities as arrays",
    "reliability.png": "reliability diagram of every method (test images of every seed, 15 "
                       "equal-mass bins of the top probability)",
    "manifest.json": "the experiment this folder holds and every file it wrote there, with its "
                     "SHA-256 checksum and size",
}


def _calibrated(result):
    return any(run.get("calibration") for run in result.runs)


def _has_calibration(result):
    """Whether the runs' reports hold the calibration figures (folders written before they
    existed do not)."""
    scored = [run for run in result.runs if run["report"]]
    return bool(scored) and all("ece" in run["report"] for run in scored)


@kerasimb_export("kerasimb.runs.report.calibration_table", serializable=False)
def calibration_table(result, digits=3, names=None):
    """Returns a markdown table of the calibration figures (`metrics.CALIBRATION_METRICS`), one
    row per method, `mean ± std` over seeds; with temperature scaling (`compare(calibrate=
    True)`) each cell reads `before → after` and a column gives the fitted temperature.
    `names` (`{method label: row name}`) shows a recipe's row names instead of the labels.

    Example:

    >>> from kerasimb.runs import ComparisonResult
    >>> result = ComparisonResult({"name": "toy", "class_names": ["a", "b"],
    ...     "class_counts": [9, 1]}, {}, [{"method": "ce", "seed": 0, "report": {
    ...     "ece": 0.2, "classwise_ece": 0.1, "brier": 0.3, "nll": 0.5}}])
    >>> print(calibration_table(result))
    | method | ece | classwise_ece | brier | nll |
    |---|---|---|---|---|
    | ce | 0.200 | 0.100 | 0.300 | 0.500 |
    """
    digits = check_int(digits, "digits", minimum=0)
    names = dict(names or {})
    metrics = result.check_metrics(CALIBRATION_METRICS)
    summary = result.summary(metrics)
    calibrated = _calibrated(result)
    body = []
    for method in result.methods:
        runs = [run for run in result.runs_of(method) if not run.get("diverged")]
        if not runs:
            body.append([names.get(method, method),
                         *(["diverged"] * (len(metrics) + calibrated))])
            continue
        cells = []
        if calibrated:
            cells.append(format_stat(mean_std([run["calibration"]["temperature"]
                                               for run in runs]), 2))
        for m in metrics:
            after = format_stat(summary[method][m], digits)
            if calibrated:
                before = format_stat(mean_std([run["calibration"]["before"][m]
                                               for run in runs]), digits)
                after = f"{before} → {after}"
            cells.append(after)
        body.append([names.get(method, method), *cells])
    return markdown_table(["method", *(["temperature"] if calibrated else []), *metrics], body)


@kerasimb_export("kerasimb.runs.report.calibration_lines", serializable=False)
def calibration_lines(result, heading="Calibration", folder="", names=None):
    """The calibration section of a report as a list of lines (none when the runs hold no
    calibration figures): its table, the metrics explained and the reliability diagrams.

    Args:
        result: `ComparisonResult`.
        heading: str. The section's `##` heading. Defaults to `"Calibration"`.
        folder: str. Where `reliability.png` is relative to the report (a recipe's report
            links the one `save_comparison` wrote in a sub-folder). Defaults to `""`.
        names: `None` or `{method label: row name}` for the table (`calibration_table`).
    """
    if not _has_calibration(result) or not result.scored_methods():
        return []
    lines = [f"## {heading}", "",
             "Whether a predicted probability means what it says: a model whose images with "
             "top probability 0.8 are right 80 % of the time is calibrated. Test-split "
             f"figures, {_spread(result)}."]
    if _calibrated(result):
        lines += ["", "Temperature scaling: one temperature per run, fitted on the validation "
                      "split (minimum negative log-likelihood), divides the logits; each cell "
                      "reads before → after. It never changes the predicted class."]
    lines += ["", calibration_table(result, names=names), "",
              *[f"- `{m}`: {METRIC_DESCRIPTIONS[m]}" for m in CALIBRATION_METRICS], "",
              f"![reliability diagrams]({folder.rstrip('/') + '/' if folder else ''}"
              "reliability.png)", ""]
    return lines


def reliability_curves(result):
    """`{method: curve}` for `plotting.plot_reliability`: the test images of every seed pooled;
    with temperature scaling also the curve before it (the stored probabilities with the
    temperature undone)."""
    from kerasimb.inference.temperature import apply_temperature

    curves = {}
    for method in result.scored_methods():
        runs = [run for run in result.runs_of(method)
                if not run.get("diverged") and (method, run["seed"]) in result.probabilities]
        if not runs:
            continue
        after = np.concatenate([result.probabilities[method, run["seed"]] for run in runs])
        labels = np.concatenate([result.y_true] * len(runs))
        curve = {"after": reliability_bins(labels, after),
                 "ece": float(np.mean([run["report"]["ece"] for run in runs]))}
        if all(run.get("calibration") for run in runs):
            before = np.concatenate([
                apply_temperature(result.probabilities[method, run["seed"]],
                                  1.0 / run["calibration"]["temperature"]) for run in runs])
            curve["before"] = reliability_bins(labels, before)
            curve["ece_before"] = float(np.mean([run["calibration"]["before"]["ece"]
                                                 for run in runs]))
        curves[method] = curve
    return curves


def _training_lines(settings):
    """Settings lines for the pretrained weights, augmentation and backbone freezing of a run
    (none when they were not used)."""
    lines = []
    weights = settings.get("weights")
    if weights:
        lines.append("- pretrained weights: " + ("ImageNet" if weights == "imagenet" else
                                                 f"`{os.path.basename(str(weights))}`"))
    augment = settings.get("augment")
    if augment:
        own = settings.get("own_views")
        lines.append(f"- augmentation of the training images: {AUGMENT_TEXT.get(augment, augment)}"
                     + (f" ({', '.join(f'`{m}`' for m in own)}: "
                        f"{'its' if len(own) == 1 else 'their'} own two augmented views instead)"
                        if own else ""))
    freeze = settings.get("freeze_backbone")
    if freeze is True:
        lines.append("- backbone frozen throughout (only the head trained)")
    elif freeze:
        lines.append(f"- backbone frozen for the first {freeze} epoch{'s' * (freeze != 1)}, "
                     "then every layer fine-tuned")
    return lines


def _fold_text(settings):
    k, seed = settings["folds"], settings.get("fold_seed")
    if settings.get("fold_as_test"):
        return (f"{k}-fold stratified cross-validation over the training, validation and test "
                f"images pooled: fold i is the test set, fold i + 1 (mod {k}) the validation "
                f"set, the other folds train; the figures are over {k} different test sets "
                f"(split and training seed {seed})")
    return (f"{k}-fold stratified cross-validation over the training and validation images "
            f"pooled: fold i validates, the other folds train; the test split is the same for "
            f"every fold (split and training seed {seed})")


def median_table(result, metrics=None, digits=3):
    """Returns a markdown table of each method's median over its runs (folds) per metric
    (`ComparisonResult.medians`), `n/a` where no run has a defined value.

    >>> from kerasimb.runs import ComparisonResult
    >>> result = ComparisonResult(
    ...     {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {"folds": 3},
    ...     [{"method": "ce", "seed": f"fold{i}", "report": {"mcc": v}}
    ...      for i, v in enumerate([0.5, 0.9, 0.6])])
    >>> print(median_table(result, ["mcc"]))
    | method | mcc |
    |---|---|
    | ce | 0.600 |
    """
    metrics = result.check_metrics(_result_metrics(result, metrics))
    digits = check_int(digits, "digits", minimum=0)
    medians = result.medians(metrics)
    body = [[method, *("n/a" if medians[method][m] is None else f"{medians[method][m]:.{digits}f}"
                       for m in metrics)] for method in result.methods]
    return markdown_table(["method", *metrics], body)


def _median_lines(result, metrics):
    if not _folds(result):
        return []
    return [f"Median over the {len(result.seeds)} folds:", "", median_table(result, metrics),
            ""]


def external_lines(result):
    """The `report.md` section of the external test set (`compare(test_dataset=)`): its
    results table (mean ± std, and the median with folds) and what it holds; `[]` without."""
    external = result.external_result() if hasattr(result, "external_result") else None
    if external is None or not external.runs:
        return []
    d = external.dataset
    metrics = external.check_metrics(_result_metrics(external, None))
    counts = ", ".join(f"{n} {c}" for n, c in zip(d["class_names"], d.get("test_counts", [])))
    lines = ["## External test set", "",
             f"Every trained model also scored on the test split of `{d['name']}` "
             f"({d.get('test_size', '?')} images: {counts}), never used in training or "
             f"model selection; {_spread(result)}.", "",
             comparison_table(external, metrics, versus_baseline=True), ""]
    if _folds(result):
        lines += [f"Median over the {len(result.seeds)} folds:", "",
                  median_table(external, metrics), ""]
    return lines


@kerasimb_export("kerasimb.runs.report.report_markdown", serializable=False)
def report_markdown(result, confusion_files=None, files=None):
    """Returns the text of `report.md`: the dataset, the exact settings, the results table with
    the metrics explained, recall per class, and links to the plots `save_comparison` writes.

    The table shows `default_metrics` of the dataset (the quadratic kappa only for ordinal
    classes). A line under it says when the test split is balanced (accuracy then equals
    balanced accuracy) and warns about every run whose model predicted a single class.

    Args:
        result: `ComparisonResult`.
        confusion_files: dict `method -> file name` of the confusion-matrix plots to link (each
            summed over the seeds), or `None` for none. Defaults to `None`.
        files: sequence of the data files written beside the report (names of
            `FILE_DESCRIPTIONS`), listed with what they hold, or `None`. Defaults to `None`.
    """
    d, s = result.dataset, result.settings
    spread = _spread(result)
    metrics = result.check_metrics(_result_metrics(result, None))
    selection = (f"the weights of the epoch with the best validation `{s['select_by']}` are "
                 "reported" if s.get("select_by")
                 else "no model selection (the last epoch is reported)")
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
        markdown_table(
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
        f"- epochs: {s['epochs']}, batch size: {s['batch_size']}, optimizer: " + (
            f"{s['optimizer']} (learning rate {s['learning_rate']})"
            if s.get("training") is None
            else describe_training(s["training"], s["learning_rate"])),
        *([f"- folds: {_fold_text(s)}"] if s.get("folds") else [
            f"- seeds: {s['seeds']} (each seed sets the initial weights and the batch order)"]),
        *_training_lines(s),
        (f"- evaluation: each fold's held-out test fold; its validation fold scored after "
         f"every epoch, {selection}" if s.get("fold_as_test") else
         f"- evaluation: {s['evaluated_on']} split, {d['test_size']} images; validation split "
         f"scored after every epoch, {selection}"),
        "- methods:",
    ]
    for label, info in s["methods"].items():
        params = ", ".join(f"{k}={v!r}" for k, v in info["params"].items()) or "no parameters"
        lines.append(f"  - `{label}`: {info['description']} ({params})")
    versions = ", ".join(f"{k} {v}" for k, v in s.get("versions", {}).items())
    lines += [
        f"- software: {versions}",
        f"- total time: {s.get('total_seconds', 0.0):.1f} s of training"
        + (f" (this call {s['wall_seconds']:.1f} s: runs finished earlier were loaded, not "
           "retrained)" if s.get("wall_seconds", math.inf) < 0.5 * s.get("total_seconds", 0.0)
           else ""),
        "",
        "## Results",
        "",
        ("Figures on each fold's held-out test fold, " if s.get("fold_as_test")
         else "Test-split figures, ") + f"{spread}.",
        "",
        comparison_table(result, metrics),
        "",
        *_median_lines(result, metrics),
        *_single_class_warnings(result),
        *_balanced_test_note(result),
        *[f"- `{m}`: {METRIC_DESCRIPTIONS.get(m, m)}" for m in metrics],
        "",
        "## Recall per class",
        "",
        f"Test recall of each class (label order, with its training count); {spread}.",
        "",
        per_class_recall_table(result),
        "",
        *(["![recall per class](per_class_recall.png)", ""] if result.scored_methods() else []),
        *calibration_lines(result),
        *external_lines(result),
    ]
    if confusion_files:
        heading = _confusion_heading(result)
        lines += [f"## Confusion matrices ({heading})", ""]
        if s.get("fold_as_test"):
            lines += ["Each image of the pooled data is counted once, in the fold that tests "
                      "it; rows are the true classes.", ""]
        elif _folds(result):
            lines += [f"Each test image is counted once per fold ({len(result.seeds)} folds "
                      f"x {d['test_size']} images); rows are the true classes.", ""]
        elif len(result.seeds) > 1:
            lines += [f"Each test image is counted once per seed ({len(result.seeds)} seeds "
                      f"x {d['test_size']} images); rows are the true classes.", ""]
        for method, name in confusion_files.items():
            lines += [f"### {method}", "", f"![{method}, {heading}]({name})", ""]
    if files:
        lines += ["## Files", ""]
        lines += [f"- `{name}`: {FILE_DESCRIPTIONS[name]}" if name in FILE_DESCRIPTIONS
                  else f"- `{name}`" for name in files]
        lines.append("")
    return "\n".join(lines)


@kerasimb_export("kerasimb.runs.report.write_summary_csv", serializable=False)
def write_summary_csv(result, path, metrics=None):
    """Writes `summary.csv`: one row per method; for every metric its mean, sample standard
    deviation and number of seeds with a defined value (`<metric>_mean`, `<metric>_std`,
    `<metric>_n`), as `result.summary` computes them, after `seeds` (the runs) and `diverged`
    (how many of them diverged, left out of the figures). Numbers keep full precision; an
    undefined value is an empty cell. Returns `path`.

    Args:
        result: `ComparisonResult`.
        path: str or path-like.
        metrics: sequence of scalar report keys, or `None` for `default_metrics` of the
            dataset. Defaults to `None`.
    """
    metrics = result.check_metrics(_result_metrics(result, metrics))
    summary = result.summary(metrics)
    header = ["method", "seeds", "diverged"] + [f"{m}_{part}" for m in metrics
                                                for part in ("mean", "std", "n")]
    rows = [[method, len(result.runs_of(method)),
             sum(1 for run in result.runs_of(method) if run.get("diverged"))]
            + [summary[method][m][part] for m in metrics for part in ("mean", "std", "n")]
            for method in result.methods]
    return write_csv(path, header, rows)


@kerasimb_export("kerasimb.runs.report.write_per_class_csv", serializable=False)
def write_per_class_csv(result, path):
    """Writes `per_class.csv`: one row per method, seed and class with the class's training
    count, test count, recall, precision and F1, all from the run's test confusion matrix
    (`utils.class_figures.per_class_scores`; an undefined ratio is an empty cell); a run that
    diverged has no rows. Returns `path`."""
    names, counts = result.dataset["class_names"], result.dataset["class_counts"]
    rows = []
    for run in result.runs:
        if run.get("diverged"):  # no scores
            continue
        scores = per_class_scores(run["report"]["confusion_matrix"])
        for k, name in enumerate(names):
            rows.append([run["method"], run["seed"], name, int(counts[k]),
                         int(scores["support"][k]), scores["recall"][k],
                         scores["precision"][k], scores["f1"][k]])
    return write_csv(path, ["method", "seed", "class", "train_count", "test_count", "recall",
                            "precision", "f1"], rows)


def _check_paths(paths, size):
    if paths is None:
        return None
    if hasattr(paths, "paths") and not isinstance(paths, (str, bytes)):  # data.ImageFiles
        paths = paths.paths
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            "Invalid type received for argument `paths`. Expected one file path per test image. "
            f"Received: paths={paths!r} (a single path)"
        )
    paths = [os.fsdecode(p) if isinstance(p, (bytes, np.bytes_)) else os.fspath(p)
             if isinstance(p, os.PathLike) else str(p) for p in paths]
    if len(paths) != size:
        raise ValueError(
            f"Invalid value received for argument `paths`. Expected one path per test image "
            f"({size}). Received: {len(paths)} paths"
        )
    return paths


@kerasimb_export("kerasimb.runs.report.write_predictions_csv", serializable=False)
def write_predictions_csv(result, path, paths=None):
    """Writes `predictions.csv`: one row per method, seed and test image with the image's
    `index` in the test split, its `path` (when known), the `true_class` and
    `predicted_class` names and one probability column `p_<class name>` per class, at full
    precision. Returns `path`.

    Args:
        result: `ComparisonResult` with `y_true` and `probabilities`.
        path: str or path-like.
        paths: `None`, a sequence of file paths (one per test image, in order) or a
            `data.ImageFiles`. `None` uses `result.dataset["test_paths"]` when present, else
            writes no `path` column. Defaults to `None`.

    Raises:
        ValueError: no test labels or probabilities, or a `paths` of another length.
    """
    if result.y_true is None or not result.probabilities:
        raise ValueError(
            "Invalid value received for argument `result`. Expected test labels and "
            "probabilities (`y_true`, `probabilities`). Received: "
            f"y_true={'None' if result.y_true is None else 'set'}, "
            f"{len(result.probabilities)} probability arrays"
        )
    y_true = np.asarray(result.y_true, dtype=np.int64).reshape(-1)
    names = [str(n) for n in result.dataset["class_names"]]
    if paths is None:
        paths = result.dataset.get("test_paths")
    paths = _check_paths(paths, len(y_true))
    header = ["method", "seed", "index", *(["path"] if paths is not None else []),
              "true_class", "predicted_class", *(f"p_{n}" for n in names)]

    def rows():
        for run in result.runs:
            probabilities = result.probabilities.get((run["method"], run["seed"]))
            if probabilities is None:
                continue
            probabilities = np.asarray(probabilities)
            predicted = probabilities.argmax(axis=1)
            for i in range(len(y_true)):
                yield [run["method"], run["seed"], i, *([paths[i]] if paths is not None else []),
                       names[y_true[i]], names[predicted[i]],
                       *(float(v) for v in probabilities[i])]

    return write_csv(path, header, rows())


@kerasimb_export("kerasimb.runs.report.save_comparison", serializable=False)
def save_comparison(result, output_dir, paths=None, overwrite=False, extra_files=()):
    """Writes a comparison to `output_dir` (created if needed); returns the paths written.

    The folder belongs to one experiment (`runs.manifest`): one holding another experiment
    (its `manifest.json` names other settings) is refused unless `overwrite`, which first
    removes the files that experiment wrote. Files an earlier save of this experiment wrote and
    this one does not (e.g. the figures of a method no longer compared) are removed, but its
    finished runs (`runs/`) and saved models (`models/`) are kept; a file kerasimb did not write
    is never removed.

    Files, each written to a temporary name and renamed into place (a kill never leaves half a
    file):

    - `metrics.json`: `result.to_json()`.
    - `summary.csv`, `per_class.csv`, `predictions.csv`: the same figures as CSV
      (`write_summary_csv`, `write_per_class_csv`, `write_predictions_csv`).
    - `report.md`: `report_markdown(result)`, linking the plots below.
    - `predictions.npz`: `y_true` and, per run, `"<method>/seed<seed>"` test probabilities
      `(N, C)`.
    - `class_distribution.png`: training examples per class (log scale when the imbalance
      ratio is 10 or more).
    - `per_class_recall.png`: recall per class for every method (mean over seeds, error bars =
      standard deviation, kept inside [0, 1]).
    - `confusion_<method>.png`: each method's test confusion matrix summed over the seeds.
    - `manifest.json`, written last: the experiment (`result.experiment`) and every file it
      wrote in the folder (these, `result.files` inside it and `extra_files`) with its SHA-256
      and size.

    Runs that diverged (`result.diverged()`) have no scores, probabilities or figures: the
    tables say when they diverged, and a method whose every run diverged has no confusion
    matrix (and no recall bars).

    Args:
        result: `ComparisonResult`.
        output_dir: str or path-like.
        paths: `None`, a sequence of the test images' file paths or a `data.ImageFiles`, for
            the `path` column of `predictions.csv` (see `write_predictions_csv`). Defaults to
            `None`.
        overwrite: bool. Replace another experiment held in `output_dir`. Defaults to `False`.
        extra_files: paths of more files of the experiment, written before, to list in the
            manifest (e.g. `runs.train`'s `history.csv`). Defaults to `()`.

    Returns:
        dict `file name -> path`.

    Raises:
        ValueError: `output_dir` holds another experiment and `overwrite` is `False`.
    """
    output_dir = os.fspath(output_dir)
    start_experiment(output_dir, result.experiment, overwrite)
    paths_written = {}
    plots = contextlib.ExitStack()  # plots go to temporary names, renamed into place together

    def path_of(name):
        paths_written[name] = os.path.join(output_dir, name)
        return plots.enter_context(atomic_path(paths_written[name]))

    def data_file(name):
        paths_written[name] = os.path.join(output_dir, name)
        return paths_written[name]

    write_json(data_file("metrics.json"), result.to_json())
    write_summary_csv(result, data_file("summary.csv"))
    write_per_class_csv(result, data_file("per_class.csv"))
    if result.probabilities and result.y_true is not None:
        write_predictions_csv(result, data_file("predictions.csv"), paths=paths)
    if result.probabilities:
        arrays = {f"{m}/{run_name(s)}": p for (m, s), p in result.probabilities.items()}
        labels = getattr(result, "test_labels", None)
        if result.y_true is not None:
            arrays["y_true"] = result.y_true
        elif labels is not None:  # each fold's own test labels
            arrays.update({f"y_true/{run_name(s)}": y for s, y in labels.items()})
        write_npz(data_file("predictions.npz"), **arrays)
    files = list(paths_written) + [MANIFEST]

    counts, names = result.dataset["class_counts"], result.dataset["class_names"]
    plotting.plot_class_distribution(
        counts, names, path=path_of("class_distribution.png"),
        log_scale=max(counts) >= 10 * min(counts),
        title=f"{result.dataset['name']}: training examples per class",
    )
    recall = result.per_class_recall()
    scored = result.scored_methods()  # methods with a run that did not diverge
    if scored:
        plotting.plot_per_class_recall(
            {m: [recall[m][n]["mean"] for n in names] for m in scored},
            names,
            errors={m: [recall[m][n]["std"] or 0.0 for n in names] for m in scored}
            if len(result.seeds) > 1 else None,
            path=path_of("per_class_recall.png"),
            title=f"{result.dataset['name']}: test recall per class"
                  + (f" (mean ± std over {len(result.seeds)} folds)" if _folds(result) else
                     f" (mean ± std over {len(result.seeds)} seeds)" if len(result.seeds) > 1
                     else f" (seed {result.seeds[0]})"),
        )
    if _has_calibration(result) and result.y_true is not None:
        curves = reliability_curves(result)
        if curves:
            plotting.plot_reliability(
                curves, path=path_of("reliability.png"),
                title=f"{result.dataset['name']}: reliability on the test split"
                      + (f" ({len(result.seeds)} seeds pooled)" if len(result.seeds) > 1 else ""))
    confusion_files = {}
    heading = _confusion_heading(result)
    for method in scored:
        name = f"confusion_{safe_name(method)}.png"
        plotting.plot_confusion_matrix(
            summed_confusion_matrix(result, method), names,
            path=path_of(name), title=f"{method}, {heading}",
        )
        confusion_files[method] = name
    plots.close()
    paths_written["report.md"] = write_text(os.path.join(output_dir, "report.md"),
                                            report_markdown(result, confusion_files, files))
    write_manifest(output_dir, [*paths_written.values(), *result.files, *extra_files],
                   result.experiment, carry=("runs/", "models/"))
    paths_written[MANIFEST] = os.path.join(output_dir, MANIFEST)
    return paths_written
