"""Robustness plots of the perturbation (the paper's Fig. 3): metrics against ε or T."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.plotting import legend_outside, new_figure, save_figure

__all__ = ["plot_sweep"]

_LABELS = {"balanced_accuracy": "mean class recall (MCR)",
           "smallest_class_recall": "smallest-class recall (SCR)",
           "epsilon": "ε (step size)", "temperature": "T (temperature)"}


def _mean_std(values):
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)), float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0


@kerasimb_export("kerasimb.inference.plot_sweep", serializable=False)
def plot_sweep(curves, x="epsilon", metrics=("balanced_accuracy", "smallest_class_recall"),
               references=None, path=None, title=None):
    """Plots metrics against ε or T, one line per label, one panel per metric.

    Args:
        curves: dict `label -> list of sweep results`, each a list of rows as returned by
            `inference.sweep` (one list per fold or seed); the rows of one list share `x`
            values with the other lists. Points show the mean over the lists, bars the sample
            standard deviation.
        x: `"epsilon"` or `"temperature"`: the row key on the (log-scaled) x axis; zero values
            are left out of the line (use `references` for the unperturbed score).
            Defaults to `"epsilon"`.
        metrics: row keys, one panel each. Defaults to MCR and SCR.
        references: `None` or dict `label -> {metric: value}`: a dashed horizontal line per
            label (e.g. the score without perturbation). Defaults to `None`.
        path: `None` or a PNG path to write. Defaults to `None`.
        title: str or `None`. Defaults to `None`.

    Returns:
        The matplotlib `Figure`.

    Example:

    >>> rows = [{"epsilon": 1e-3, "temperature": 1000.0, "balanced_accuracy": 0.5,
    ...          "smallest_class_recall": 0.2}]
    >>> figure = plot_sweep({"ce": [rows]})
    >>> len(figure.axes)
    2
    """
    if x not in ("epsilon", "temperature"):
        raise ValueError("Invalid value received for argument `x`. Expected 'epsilon' or "
                         f"'temperature'. Received: x={x!r}")
    if isinstance(metrics, str):
        metrics = (metrics,)
    if not curves:
        raise ValueError("Invalid value received for argument `curves`. Expected at least one "
                         "label. Received: curves={}")
    figure = new_figure((5.0 * len(metrics) + 1.5, 3.6))
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    colors = [f"C{i}" for i in range(10)]
    for ax, metric in zip(axes, metrics):
        for i, (label, runs) in enumerate(curves.items()):
            xs = sorted({row[x] for rows in runs for row in rows if row[x] > 0})
            means, stds = [], []
            for value in xs:
                m, s = _mean_std([row[metric] for rows in runs for row in rows if row[x] == value])
                means.append(m)
                stds.append(s)
            color = colors[i % len(colors)]
            ax.errorbar(xs, means, yerr=stds, marker="o", ms=3, capsize=2, color=color,
                        label=label)
            if references and label in references:
                ax.axhline(references[label][metric], color=color, ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel(_LABELS[x])
        ax.set_ylabel(_LABELS.get(metric, metric))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    legend_outside(axes[-1])
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
