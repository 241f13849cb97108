"""Writing a comparison out: markdown tables, `report.md`, `metrics.json`, predictions, plots.

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
import os

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.utils import plotting
from kerasimb.utils.atomic import atomic_path, write_json, write_npz, write_text
from kerasimb.utils.formatting import format_stat, markdown_table, safe_name
from kerasimb.utils.validation import check_int

__all__ = ["DEFAULT_METRICS", "METRIC_DESCRIPTIONS", "comparison_table",
           "per_class_recall_table", "report_markdown", "save_comparison"]

# The summary table's columns: imbalance-aware figures first, plain accuracy and AUC after
# (every scalar report key but Kendall's τ, which the recipes of ordinal tasks add).
DEFAULT_METRICS = tuple(m for m in SCALAR_METRICS if m != "kendall_tau")

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
}


@kerasimb_export("kerasimb.runs.report.comparison_table", serializable=False)
def comparison_table(result, metrics=DEFAULT_METRICS, digits=3, rows=None, bold_best=False,
                     corner="method", column_names=None):
    """Returns a markdown table: one row per method, `mean ± std` over seeds per metric.

    Args:
        result: `ComparisonResult`.
        metrics: sequence of report keys. Defaults to `DEFAULT_METRICS`.
        digits: int. Decimal places. Defaults to `3`.
        rows: `None` (every method, labelled as in `result.methods`) or a sequence of
            `(display name, method label)` pairs choosing and naming the rows, as a paper's
            table does. Defaults to `None`.
        bold_best: bool. Bold the best mean of each column. Defaults to `False`.
        corner: str. Header of the first column. Defaults to `"method"`.
        column_names: dict `metric -> header` for the metric columns. Defaults to the keys.

    Raises:
        ValueError: unknown metrics or row labels.
    """
    metrics = result.check_metrics(metrics)
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
        cells = []
        for m in metrics:
            text = format_stat(summary[label][m], digits)
            if bold_best and best[m] is not None and summary[label][m]["mean"] == best[m]:
                text = f"**{text}**"
            cells.append(text)
        body.append([name, *cells])
    names = column_names or {}
    return markdown_table([corner, *(names.get(m, m) for m in metrics)], body)


@kerasimb_export("kerasimb.runs.report.per_class_recall_table", serializable=False)
def per_class_recall_table(result, digits=3):
    """Returns a markdown table: one row per class (with its training count), one column per
    method, `mean ± std` recall over seeds."""
    recall = result.per_class_recall()
    d = result.dataset
    rows = [[name, count, *(format_stat(recall[m][name], digits) for m in result.methods)]
            for name, count in zip(d["class_names"], d["class_counts"])]
    return markdown_table(["class", "train count", *result.methods], rows)


def _spread(result):
    n_seeds = len(result.seeds)
    return (f"mean ± sample standard deviation over {n_seeds} seeds" if n_seeds > 1
            else "a single seed (no standard deviation)")


@kerasimb_export("kerasimb.runs.report.report_markdown", serializable=False)
def report_markdown(result, confusion_files=None):
    """Returns the text of `report.md`: the dataset, the exact settings, the results table with
    the metrics explained, recall per class, and links to the plots `save_comparison` writes.

    Args:
        result: `ComparisonResult`.
        confusion_files: dict `method -> file name` of the confusion-matrix plots to link, or
            `None` for none.
    """
    d, s = result.dataset, result.settings
    spread = _spread(result)
    selection = (f"the weights of the epoch with the best validation `{s['select_by']}` are "
                 "reported (`callbacks.BestValidationWeights`)" if s.get("select_by")
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
        f"- epochs: {s['epochs']}, batch size: {s['batch_size']}, optimizer: {s['optimizer']} "
        f"(learning rate {s['learning_rate']})",
        f"- seeds: {s['seeds']} (each seeds weights and batch order)",
        f"- evaluation: {s['evaluated_on']} split, {d['test_size']} images; validation split "
        f"scored after every epoch, {selection}",
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
        comparison_table(result),
        "",
        *[f"- `{m}`: {METRIC_DESCRIPTIONS.get(m, m)}" for m in DEFAULT_METRICS],
        "",
        "## Recall per class",
        "",
        f"Test recall of each class (label order, with its training count); {spread}.",
        "",
        per_class_recall_table(result),
        "",
        "![recall per class](per_class_recall.png)",
        "",
    ]
    if confusion_files:
        lines += [f"## Confusion matrices (seed {result.seeds[0]})", ""]
        for method, name in confusion_files.items():
            lines += [f"### {method}", "", f"![{method}]({name})", ""]
    return "\n".join(lines)


@kerasimb_export("kerasimb.runs.report.save_comparison", serializable=False)
def save_comparison(result, output_dir):
    """Writes a comparison to `output_dir` (created if needed); returns the paths written.

    Files, each written to a temporary name and renamed into place (a kill never leaves half a
    file):

    - `metrics.json`: `result.to_json()`.
    - `report.md`: `report_markdown(result)`, linking the plots below.
    - `predictions.npz`: `y_true` and, per run, `"<method>/seed<seed>"` test probabilities
      `(N, C)`.
    - `class_distribution.png`: training examples per class (log scale when the imbalance
      ratio is 10 or more).
    - `per_class_recall.png`: recall per class for every method (mean over seeds, error bars =
      standard deviation).
    - `confusion_<method>.png`: each method's test confusion matrix, first seed.

    Args:
        result: `ComparisonResult`.
        output_dir: str or path-like.

    Returns:
        dict `file name -> path`.
    """
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    paths = {}
    plots = contextlib.ExitStack()  # plots go to temporary names, renamed into place together

    def path_of(name):
        paths[name] = os.path.join(output_dir, name)
        return plots.enter_context(atomic_path(paths[name]))

    paths["metrics.json"] = write_json(os.path.join(output_dir, "metrics.json"), result.to_json())
    if result.probabilities:
        arrays = {f"{m}/seed{s}": p for (m, s), p in result.probabilities.items()}
        paths["predictions.npz"] = os.path.join(output_dir, "predictions.npz")
        write_npz(paths["predictions.npz"], y_true=result.y_true, **arrays)

    counts, names = result.dataset["class_counts"], result.dataset["class_names"]
    plotting.plot_class_distribution(
        counts, names, path=path_of("class_distribution.png"),
        log_scale=max(counts) >= 10 * min(counts),
        title=f"{result.dataset['name']}: training examples per class",
    )
    recall = result.per_class_recall()
    plotting.plot_per_class_recall(
        {m: [recall[m][n]["mean"] or 0.0 for n in names] for m in result.methods},
        names,
        errors={m: [recall[m][n]["std"] or 0.0 for n in names] for m in result.methods}
        if len(result.seeds) > 1 else None,
        path=path_of("per_class_recall.png"),
        title=f"{result.dataset['name']}: test recall per class",
    )
    confusion_files = {}
    first_seed = result.seeds[0]
    for method in result.methods:
        name = f"confusion_{safe_name(method)}.png"
        plotting.plot_confusion_matrix(
            result.reports[(method, first_seed)]["confusion_matrix"], names,
            path=path_of(name), title=f"{method} (seed {first_seed})",
        )
        confusion_files[method] = name
    plots.close()
    paths["report.md"] = write_text(os.path.join(output_dir, "report.md"),
                                    report_markdown(result, confusion_files))
    return paths
