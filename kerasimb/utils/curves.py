"""Training curves: every logged figure against the epoch, training and validation side by side."""

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.plotting import integer_ticks, new_figure, save_figure

__all__ = ["plot_training_curves"]


@kerasimb_export("kerasimb.utils.plot_training_curves", serializable=False)
def plot_training_curves(histories, path=None, title=None, metrics=None):
    """Plots `fit` histories: one panel per figure (loss, accuracy, ...), the training value as
    a solid line and the validation value (`val_<name>`) dashed, one colour per run.

    Args:
        histories: dict `{run label: History.history dict}` (e.g. one per seed); `None` values
            (an undefined figure) are left as gaps.
        path: str or `None`. Where to write the PNG. Defaults to `None`.
        title: str or `None`. Defaults to `None`.
        metrics: names to plot (without `val_`), or `None` for every name logged, loss first.
            Defaults to `None`.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:

    >>> figure = plot_training_curves({0: {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9],
    ...                                    "val_balanced_accuracy": [0.4, 0.6]}})
    >>> [axis.get_title() for axis in figure.axes]
    ['loss', 'balanced_accuracy']
    """
    if not histories:
        raise ValueError("Invalid value received for argument `histories`. Expected at least "
                         "one run's history. Received: histories={}")
    names = []
    for history in histories.values():
        for key in history:
            base = key[4:] if key.startswith("val_") else key
            if base not in names and not base.startswith("stage2_"):
                names.append(base)
    if metrics is not None:
        names = [m for m in metrics if m in names]
    names = sorted(names, key=lambda n: (n != "loss", names.index(n)))
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    figure = new_figure((4.0 * columns + 1.5, 3.0 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for axis, name in zip(axes, names):
        for colour, (label, history) in zip(colours, histories.items()):
            for key, style, kind in ((name, "-", "train"), (f"val_{name}", "--", "val")):
                values = history.get(key)
                if values:
                    epochs = range(1, len(values) + 1)
                    axis.plot(epochs, [float("nan") if v is None else v for v in values],
                              style, color=colour, label=f"{label} {kind}")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        integer_ticks(axis)
        axis.grid(alpha=0.3)
    for axis in axes[len(names):]:
        axis.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize=7)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)
