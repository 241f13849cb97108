"""Plots for experiment reports: class distribution, per-class recall, confusion matrix,
reliability diagrams, training curves averaged over seeds.

The small helpers every report plot uses live here too: `legend_outside` (a legend beside the
axes, never over the data), `integer_ticks` (an axis that counts epochs or trials),
`clipped_errors` (error bars that stay inside [0, 1]) and `grouped_bar_width` (a figure wide
enough for grouped bars).

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas, without
`pyplot`: nothing is displayed, no global backend is switched, and the functions are safe in
scripts, tests and servers. Each function returns the `Figure` (Jupyter shows it) and, given
`path`, also writes a PNG there.
"""

import numpy as np

from kerasimb.api_export import kerasimb_export

__all__ = [
    "check_names",
    "clipped_errors",
    "draw_grouped_bars",
    "grouped_bar_width",
    "history_band",
    "integer_ticks",
    "legend_outside",
    "new_figure",
    "plot_class_distribution",
    "plot_confusion_matrix",
    "plot_mean_training_curves",
    "plot_per_class_recall",
    "plot_reliability",
    "save_figure",
]


def new_figure(figsize):
    """Returns a `matplotlib.figure.Figure` with an Agg canvas and the constrained layout.

    No `pyplot`: nothing is displayed and no global backend is switched.

    Args:
        figsize: `(width, height)` in inches.

    Example:

    >>> new_figure((4.0, 3.0)).get_size_inches().tolist()
    [4.0, 3.0]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, dpi=120):
    """Writes `figure` as a PNG to `path` unless `path` is `None`; returns `figure`.

    Args:
        figure: a `matplotlib.figure.Figure`.
        path: str, path-like or `None`.
        dpi: int. Defaults to `120`.
    """
    if path is not None:
        figure.savefig(str(path), dpi=dpi)
    return figure


def check_names(class_names, num_classes):
    """Returns `class_names` as a list of `num_classes` strings (`"0"`, `"1"`, ... for `None`).

    Raises:
        ValueError: a number of names other than `num_classes`.

    Example:

    >>> check_names(None, 3), check_names([7, "b"], 2)
    (['0', '1', '2'], ['7', 'b'])
    """
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    class_names = [str(c) for c in class_names]
    if len(class_names) != num_classes:
        raise ValueError(
            f"Invalid value received for argument `class_names`. Expected {num_classes} names. "
            f"Received: {len(class_names)} names, class_names={class_names}"
        )
    return class_names


def legend_outside(ax, title=None, fontsize=8, **kwargs):
    """Draws `ax`'s legend to the right of the axes, outside the data area; returns it.

    The constrained layout of `new_figure` (or `figure.tight_layout()`) makes room for it, so
    a legend never hides bars, points or lines. Nothing is drawn when nothing is labelled.

    Args:
        ax: a `matplotlib.axes.Axes`.
        title: str or `None`. The legend's title. Defaults to `None`.
        fontsize: int. Defaults to `8`.
        **kwargs: more `Axes.legend` arguments (e.g. `ncol`).

    Returns:
        The `matplotlib.legend.Legend`, or `None` without labelled artists.

    Example:

    >>> figure = new_figure((4.0, 3.0))
    >>> ax = figure.add_subplot()
    >>> _ = ax.plot([0, 1], [0, 1], label="ce")
    >>> bool(legend_outside(ax).get_bbox_to_anchor().x0 > ax.get_window_extent().x1)
    True
    """
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                     borderaxespad=0.0, fontsize=fontsize, title=title, **kwargs)


def integer_ticks(ax, axis="x"):
    """Puts ticks on whole numbers only along `axis` (`"x"`, `"y"` or `"both"`), for axes that
    count epochs, trials or examples; returns `ax`.

    Raises:
        ValueError: another `axis`.

    Example:

    >>> figure = new_figure((4.0, 3.0))
    >>> ax = integer_ticks(figure.add_subplot())
    >>> _ = ax.plot([0, 1, 2], [0.2, 0.5, 0.4])
    >>> figure.canvas.draw()
    >>> all(float(t).is_integer() for t in ax.get_xticks())
    True
    """
    from matplotlib.ticker import MaxNLocator

    if axis not in ("x", "y", "both"):
        raise ValueError(
            "Invalid value received for argument `axis`. Expected 'x', 'y' or 'both'. "
            f"Received: axis={axis!r}"
        )
    for name in ("x", "y") if axis == "both" else (axis,):
        getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))
    return ax


def clipped_errors(values, errors, low=0.0, high=1.0):
    """Asymmetric error-bar half-lengths that keep `values ± errors` inside `[low, high]`.

    A recall of 0.95 with a standard deviation of 0.1 over seeds is drawn from 0.85 to 1.0, not
    to 1.05: a rate cannot leave [0, 1], and neither should its error bar.

    Args:
        values: sequence of float (NaN allowed: no bar).
        errors: sequence of non-negative float (or `None` entries: no bar), same length.
        low: float. Defaults to `0.0`.
        high: float. Defaults to `1.0`.

    Returns:
        float array `(2, N)`: rows the lower and the upper half-lengths, as `yerr` takes them.

    Raises:
        ValueError: different lengths or negative errors.

    Example:

    >>> clipped_errors([0.95, 0.02, 0.5], [0.1, 0.1, 0.1]).round(2).tolist()
    [[0.1, 0.02, 0.1], [0.05, 0.1, 0.1]]
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    errors = np.asarray([np.nan if e is None else e for e in np.asarray(errors, dtype=object)
                         .reshape(-1)], dtype=np.float64)
    if values.shape != errors.shape:
        raise ValueError(
            "Invalid value received for argument `errors`. Expected one error per value "
            f"({values.size}). Received: {errors.size} errors"
        )
    if (errors < 0).any():
        raise ValueError(
            "Invalid value received for argument `errors`. Expected non-negative half-lengths. "
            f"Received: errors={errors.tolist()}"
        )
    errors = np.nan_to_num(errors, nan=0.0)
    finite = np.isfinite(values)
    lower = np.where(finite, np.clip(np.minimum(errors, values - low), 0.0, None), 0.0)
    upper = np.where(finite, np.clip(np.minimum(errors, high - values), 0.0, None), 0.0)
    return np.stack([lower, upper])


def grouped_bar_width(num_groups, bars_per_group, inches_per_bar=0.13, gap=0.3, extra=3.0,
                      minimum=5.0, maximum=18.0):
    """Figure width in inches for `num_groups` groups of `bars_per_group` bars.

    Each bar gets `inches_per_bar`, each group a `gap`, and `extra` leaves room for the axis
    labels and a legend beside the axes; the result is kept within `[minimum, maximum]`.

    Example:

    >>> grouped_bar_width(10, 6)
    13.8
    >>> grouped_bar_width(2, 2)
    5.0
    """
    width = num_groups * (bars_per_group * inches_per_bar + gap) + extra
    return round(float(min(maximum, max(minimum, width))), 2)


@kerasimb_export("kerasimb.utils.plotting.plot_class_distribution", serializable=False)
def plot_class_distribution(class_counts, class_names=None, path=None, log_scale=False, title=None):
    """Bar chart of examples per class, each bar labelled with its count.

    Args:
        class_counts: list of int, one per class (e.g. `dataset.class_counts`).
        class_names: list of str or `None` (`"0"`, `"1"`, ...). Defaults to `None`.
        path: str, path-like or `None`. Where to write a PNG. Defaults to `None`.
        log_scale: bool. Logarithmic count axis, which shows tail classes of a long-tailed
            training set. Defaults to `False`.
        title: str or `None`. Defaults to `"Training examples per class"`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    >>> figure = plot_class_distribution([100, 10, 1], ["a", "b", "c"], log_scale=True)
    >>> figure.axes[0].get_yscale()
    'log'
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
        raise ValueError(
            "Invalid value received for argument `class_counts`. Expected a non-empty list of "
            f"non-negative integers. Received: class_counts={class_counts!r}"
        )
    names = check_names(class_names, counts.size)
    figure = new_figure((max(4.0, 0.45 * counts.size + 2.0), 3.2))
    ax = figure.add_subplot()
    positions = np.arange(counts.size)
    bars = ax.bar(positions, counts, color="#4c72b0")
    ax.bar_label(bars, labels=[str(c) for c in counts], fontsize=8, padding=1)
    long_names = max(map(len, names)) > 3
    ax.set_xticks(positions, names, rotation=45 if long_names else 0,
                  ha="right" if long_names else "center")
    ax.set_xlabel("class")
    ax.set_ylabel("examples" + (" (log scale)" if log_scale else ""))
    if log_scale:
        ax.set_yscale("log")
        ax.set_ylim(0.8, max(2.0, counts.max() * 2.0))
    ax.set_title(title or "Training examples per class")
    return save_figure(figure, path)


@kerasimb_export("kerasimb.utils.plotting.plot_per_class_recall", serializable=False)
def plot_per_class_recall(recalls, class_names=None, errors=None, path=None, title=None):
    """Grouped bars: the recall of every class (x axis) for every method (one colour each).

    Args:
        recalls: dict `method -> list of float` (one recall per class, in `class_names` order).
        class_names: list of str or `None`. Defaults to `None`.
        errors: dict `method -> list of float` (e.g. standard deviations over seeds) drawn as
            error bars, or `None`. Defaults to `None`.
        path: str, path-like or `None`. Where to write a PNG. Defaults to `None`.
        title: str or `None`. Defaults to `"Recall per class"`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    >>> figure = plot_per_class_recall({"ce": [0.9, 0.1], "reweight": [0.8, 0.5]}, ["a", "b"])
    >>> len(figure.axes[0].patches)
    4
    """
    if not isinstance(recalls, dict) or not recalls:
        raise ValueError(
            "Invalid value received for argument `recalls`. Expected a non-empty dict "
            f"method -> per-class recalls. Received: recalls={recalls!r}"
        )
    values = {m: np.asarray(v, dtype=np.float64) for m, v in recalls.items()}
    sizes = {v.shape for v in values.values()}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ValueError(
            "Invalid value received for argument `recalls`. Expected one flat list per method, "
            f"all of the same length. Received shapes: { {m: v.shape for m, v in values.items()} }"
        )
    num_classes = next(iter(values.values())).size
    names = check_names(class_names, num_classes)
    if errors is not None and not isinstance(errors, dict):
        raise ValueError(
            "Invalid value received for argument `errors`. Expected `None` or a dict method -> "
            f"per-class errors. Received: errors={errors!r}"
        )
    figure = new_figure((grouped_bar_width(num_classes, len(values)), 4.2))
    ax = figure.add_subplot()
    draw_grouped_bars(ax, values, errors)
    rotate = num_classes > 6 or max(map(len, names)) > 3
    ax.set_xticks(np.arange(num_classes), names, rotation=30 if rotate else 0,
                  ha="right" if rotate else "center", rotation_mode="anchor")
    ax.set_xlim(-0.6, num_classes - 0.4)
    ax.set_ylim(0.0, 1.02)
    ax.set_yticks(np.linspace(0.0, 1.0, 6))
    ax.set_xlabel("class")
    ax.set_ylabel("recall")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    legend_outside(ax, title="method")
    ax.set_title(title or "Recall per class")
    return save_figure(figure, path)


def draw_grouped_bars(ax, values, errors=None):
    """Draws one bar per (group, series) on `ax`: groups along x at 0, 1, ..., one colour and
    legend label per series; error bars clipped to [0, 1] (`clipped_errors`). NaN values
    leave their bar empty.

    Args:
        ax: a `matplotlib.axes.Axes`.
        values: dict series label -> sequence of floats, one per group.
        errors: `None` or dict series label -> sequence of half-lengths (e.g. standard
            deviations over seeds). Defaults to `None`.

    Returns:
        `ax`.

    Example:

    >>> figure = new_figure((4.0, 3.0))
    >>> ax = draw_grouped_bars(figure.add_subplot(), {"ce": [0.9, 0.1]}, {"ce": [0.2, 0.2]})
    >>> len(ax.patches)
    2
    """
    values = {label: np.asarray(v, dtype=np.float64).reshape(-1) for label, v in values.items()}
    width = 0.8 / len(values)
    for i, (label, v) in enumerate(values.items()):
        positions = np.arange(v.size) + (i - (len(values) - 1) / 2) * width
        err = None if errors is None or errors.get(label) is None else \
            clipped_errors(v, errors[label])
        ax.bar(positions, np.nan_to_num(v), width, label=label, yerr=err,
               capsize=min(2.0, 40.0 * width / max(1, v.size) ** 0.5) if err is not None else 0,
               error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
    return ax


@kerasimb_export("kerasimb.utils.plotting.plot_confusion_matrix", serializable=False)
def plot_confusion_matrix(confusion_matrix, class_names=None, path=None, title=None):
    """Confusion matrix: rows true classes, columns predictions; colour = row-normalised rate.

    Cells show the counts (for up to 20 classes); the colour is the fraction of the true class,
    so tail classes with few examples are as visible as head classes.

    Args:
        confusion_matrix: square array of counts `(C, C)`, `[true, predicted]`.
        class_names: list of str or `None`. Defaults to `None`.
        path: str, path-like or `None`. Where to write a PNG. Defaults to `None`.
        title: str or `None`. Defaults to `"Confusion matrix"`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    >>> figure = plot_confusion_matrix([[5, 1], [2, 2]], ["a", "b"])
    >>> figure.axes[0].get_title()
    'Confusion matrix'
    """
    cm = np.asarray(confusion_matrix, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            "Invalid value received for argument `confusion_matrix`. Expected a square matrix. "
            f"Received: shape {cm.shape}"
        )
    num_classes = cm.shape[0]
    names = check_names(class_names, num_classes)
    rows = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = min(12.0, 2.0 + 0.45 * num_classes)
    figure = new_figure((size + 1.0, size))
    ax = figure.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=ax, label="fraction of the true class")
    if num_classes <= 20:
        for i in range(num_classes):
            for j in range(num_classes):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    positions = np.arange(num_classes)
    ax.set_xticks(positions, names, rotation=90 if max(map(len, names)) > 3 else 0)
    ax.set_yticks(positions, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "Confusion matrix")
    return save_figure(figure, path)


@kerasimb_export("kerasimb.utils.plotting.plot_reliability", serializable=False)
def plot_reliability(curves, path=None, title=None):
    """Reliability diagrams: one panel per method, the accuracy of each equal-mass bin of the
    top-label confidence against its mean confidence, beside the diagonal of a calibrated model.

    Args:
        curves: dict `method -> {"after": bins, "before": bins or None, "ece": float,
            "ece_before": float or None}`, `bins` a `metrics.reliability_bins` dict. `"before"`
            (temperature scaling's input, drawn dashed) is optional.
        path: str, path-like or `None`. Where to write a PNG. Defaults to `None`.
        title: str or `None`. Defaults to `"Reliability"`.

    Returns:
        A `matplotlib.figure.Figure`.

    Example:

    >>> from kerasimb.metrics import reliability_bins
    >>> bins = reliability_bins([0, 1, 1], [[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    >>> figure = plot_reliability({"ce": {"after": bins, "ece": 0.2}})
    >>> len(figure.axes)
    1
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("Invalid value received for argument `curves`. Expected a non-empty "
                         f"dict method -> reliability bins. Received: curves={curves!r}")
    columns = min(len(curves), 3)
    rows = -(-len(curves) // columns)
    figure = new_figure((3.3 * columns, 3.3 * rows + 0.4))
    for index, (method, curve) in enumerate(curves.items()):
        ax = figure.add_subplot(rows, columns, index + 1)
        ax.plot([0, 1], [0, 1], color="0.6", linewidth=1, label="calibrated")
        before = curve.get("before")
        if before is not None:
            ax.plot(before["confidence"], before["accuracy"], "o--", color="tab:red",
                    markersize=3, linewidth=1,
                    label=f"before (ECE {curve['ece_before']:.3f})")
        after = curve["after"]
        label = (f"after (ECE {curve['ece']:.3f})" if before is not None
                 else f"model (ECE {curve['ece']:.3f})")
        ax.plot(after["confidence"], after["accuracy"], "o-", color="tab:blue", markersize=3,
                linewidth=1.5, label=label)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.02)
        ax.set_aspect("equal")
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("confidence (mean of the bin)", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    figure.suptitle(title or "Reliability", fontsize=10)
    return save_figure(figure, path)


def history_band(histories, key, band="minmax"):
    """The mean of one logged figure over several runs, per epoch, with a band around it.

    Runs of different lengths (a diverged run stops early) are averaged over the runs that
    reached each epoch; `None` or NaN values (an undefined figure) are left out of that epoch.

    Args:
        histories: list of `History.history` dicts (e.g. one per seed).
        key: str, the logged name (`"loss"`, `"val_accuracy"`, ...).
        band: `"minmax"` (the lowest and highest run) or `"std"` (mean ± the sample standard
            deviation; the mean alone with one run). Defaults to `"minmax"`.

    Returns:
        dict of float arrays, all of one length: `"epoch"` (1, 2, ...), `"mean"`, `"low"`,
        `"high"`, and `"runs"` (how many runs logged the figure at that epoch); every array is
        empty when no run logged `key`.

    Raises:
        ValueError: an unknown `band` or no histories.

    Example:

    >>> out = history_band([{"loss": [1.0, 0.5]}, {"loss": [0.8, 0.3, 0.2]}], "loss")
    >>> out["epoch"].tolist(), out["mean"].round(2).tolist(), out["high"].tolist()
    ([1.0, 2.0, 3.0], [0.9, 0.4, 0.2], [1.0, 0.5, 0.2])
    """
    if band not in ("minmax", "std"):
        raise ValueError(
            "Invalid value received for argument `band`. Expected 'minmax' or 'std'. "
            f"Received: band={band!r}"
        )
    histories = list(histories)
    if not histories:
        raise ValueError("Invalid value received for argument `histories`. Expected at least "
                         "one run's history. Received: histories=[]")
    series = [[np.nan if v is None else float(v) for v in h.get(key) or []] for h in histories]
    length = max(len(s) for s in series)
    table = np.full((len(series), length), np.nan)
    for row, values in zip(table, series):
        row[:len(values)] = values
    present = np.isfinite(table)
    runs = present.sum(axis=0).astype(np.float64)
    keep = runs > 0  # epochs no run logged are dropped
    table, present, runs = table[:, keep], present[:, keep], runs[keep]
    epochs = np.arange(1, length + 1, dtype=np.float64)[keep]
    filled = np.where(present, table, 0.0)
    mean = filled.sum(axis=0) / np.maximum(runs, 1.0)
    if band == "minmax":
        low = np.where(present, table, np.inf).min(axis=0)
        high = np.where(present, table, -np.inf).max(axis=0)
    else:
        squares = np.where(present, (table - mean) ** 2, 0.0).sum(axis=0)
        std = np.sqrt(np.divide(squares, runs - 1.0, out=np.zeros_like(mean), where=runs > 1))
        low, high = mean - std, mean + std
    return {"epoch": epochs, "mean": mean, "low": low, "high": high, "runs": runs}


@kerasimb_export("kerasimb.utils.plotting.plot_mean_training_curves", serializable=False)
def plot_mean_training_curves(histories, metrics=("accuracy", "loss"), band="minmax", path=None,
                              title=None):
    """Training and validation curves of several models, each the mean over its runs (seeds)
    with a shaded band: one panel per figure (accuracy, loss, ...), one colour per model, the
    training value solid and the validation value (`val_<name>`) dashed.

    Every line is labelled `"<model>, training"` or `"<model>, validation"`; its data are
    `history_band`'s `"epoch"` and `"mean"`, so the figure can be checked against the histories.

    Args:
        histories: dict `{model: list of History.history dicts}` (one per seed).
        metrics: sequence of logged names without `val_`. Names no run logged are left out.
            Defaults to `("accuracy", "loss")`.
        band: `"minmax"` or `"std"` (see `history_band`). Defaults to `"minmax"`.
        path: str, path-like or `None`. Where to write a PNG. Defaults to `None`.
        title: str or `None`. Defaults to `None`.

    Returns:
        A `matplotlib.figure.Figure`.

    Raises:
        ValueError: no histories, a model without runs, none of `metrics` logged, a bad `band`.

    Example:

    >>> figure = plot_mean_training_curves(
    ...     {"cnn": [{"loss": [1.0, 0.6], "val_loss": [1.1, 0.9]},
    ...              {"loss": [0.8, 0.4], "val_loss": [1.3, 0.7]}]}, metrics=("loss",))
    >>> line = figure.axes[0].lines[0]
    >>> line.get_label(), line.get_ydata().round(2).tolist()
    ('cnn, training', [0.9, 0.5])
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError(
            "Invalid value received for argument `histories`. Expected a non-empty dict model "
            f"-> list of histories. Received: histories={histories!r}"
        )
    empty = [model for model, runs in histories.items() if not list(runs)]
    if empty:
        raise ValueError(
            "Invalid value received for argument `histories`. Expected at least one history "
            f"per model. Received: no histories for {empty}"
        )
    if isinstance(metrics, str):
        metrics = (metrics,)
    logged = {key for runs in histories.values() for h in runs for key, v in h.items() if v}
    names = [m for m in metrics if m in logged or f"val_{m}" in logged]
    if not names:
        raise ValueError(
            "Invalid value received for argument `metrics`. Expected names the histories log, "
            f"some of {sorted(logged)}. Received: metrics={list(metrics)}"
        )
    if band not in ("minmax", "std"):
        raise ValueError(
            "Invalid value received for argument `band`. Expected 'minmax' or 'std'. "
            f"Received: band={band!r}"
        )
    figure = new_figure((4.2 * len(names) + 2.2, 3.4))
    axes = figure.subplots(1, len(names), squeeze=False).ravel()
    for axis, name in zip(axes, names):
        for index, (model, runs) in enumerate(histories.items()):
            colour = f"C{index % 10}"
            for key, style, kind in ((name, "-", "training"), (f"val_{name}", "--", "validation")):
                curve = history_band(runs, key, band)
                if curve["epoch"].size == 0:
                    continue
                axis.plot(curve["epoch"], curve["mean"], style, color=colour, linewidth=1.5,
                          marker="o" if curve["epoch"].size == 1 else None,
                          label=f"{model}, {kind}")
                if len(runs) > 1:
                    axis.fill_between(curve["epoch"], curve["low"], curve["high"], color=colour,
                                      alpha=0.12 if kind == "training" else 0.08, linewidth=0)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        integer_ticks(axis)
        axis.grid(alpha=0.3)
    legend_outside(axes[-1])
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
