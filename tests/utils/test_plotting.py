"""The public figure helpers of `utils.plotting`: `new_figure`, `save_figure`, `check_names`."""

import os

import pytest

from kerasimb.utils.plotting import check_names, new_figure, save_figure


def test_new_figure_has_an_agg_canvas_and_the_size_asked():
    figure = new_figure((4.0, 2.5))
    assert type(figure.canvas).__name__ == "FigureCanvasAgg"
    assert figure.get_size_inches().tolist() == [4.0, 2.5]
    assert figure.get_layout_engine() is not None


def test_save_figure_writes_a_png_only_with_a_path(tmp_path):
    figure = new_figure((2.0, 2.0))
    assert save_figure(figure, None) is figure
    assert os.listdir(tmp_path) == []
    path = tmp_path / "plot.png"
    assert save_figure(figure, path, dpi=50) is figure
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_check_names():
    assert check_names(None, 3) == ["0", "1", "2"]
    assert check_names(("a", 2), 2) == ["a", "2"]
    with pytest.raises(ValueError,
                       match=r"Expected 3 names. Received: 2 names, class_names=\['a', 'b'\]"):
        check_names(["a", "b"], 3)


# --- report figures (issue 16: readable for 10 classes x 6 methods, error bars inside [0, 1],
# integer epoch/trial ticks, no legend over data) ---

import numpy as np  # noqa: E402

from kerasimb.utils import class_figures, plotting  # noqa: E402

CLASSES = ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
           "normal mucosa", "stroma", "epithelium", "tumour"]
METHODS = ["ce", "reweight", "focal", "ldam-drw", "balanced-mixup", "ce+perturb"]


def ten_by_six(seed=0):
    rng = np.random.default_rng(seed)
    values = {m: rng.uniform(0.0, 1.0, 10) for m in METHODS}
    values["ce"][:3] = [0.0, 1.0, 0.97]  # bars at the limits, where the std would leave [0, 1]
    errors = {m: rng.uniform(0.05, 0.3, 10) for m in METHODS}
    return values, errors


def error_bar_extent(ax):
    """(lowest, highest) y of every error-bar segment on `ax`."""
    from matplotlib.collections import LineCollection

    ys = [y for c in ax.collections if isinstance(c, LineCollection)
          for segment in c.get_segments() for _, y in segment]
    assert ys, "no error bars drawn"
    return min(ys), max(ys)


def assert_legend_beside_the_data(figure):
    figure.canvas.draw()
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box, area = legend.get_window_extent(), ax.get_window_extent()
        assert not box.overlaps(area), (box, area)
        # and inside the figure (the layout made room for it)
        assert box.x1 <= figure.bbox.x1 + 1 and box.y0 >= figure.bbox.y0 - 1


def assert_readable_bars(figure, num_classes, num_methods):
    figure.canvas.draw()
    ax = figure.axes[0]
    assert len(ax.patches) == num_classes * num_methods
    dpi = figure.dpi
    widths = [p.get_window_extent().width / dpi for p in ax.patches]
    assert min(widths) >= 0.1, min(widths)  # at least 0.1 inch a bar
    width, height = figure.get_size_inches()
    assert width <= 16.0 and height >= 4.0 and width / height <= 4.0, (width, height)
    labels = [t for t in ax.get_xticklabels() if t.get_text()]
    assert [t.get_text() for t in labels] == CLASSES
    assert all(t.get_rotation() > 0 for t in labels)
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), "class labels overlap"


def test_per_class_recall_readable_for_ten_classes_by_six_methods(tmp_path):
    values, errors = ten_by_six()
    figure = plotting.plot_per_class_recall(values, CLASSES, errors=errors,
                                            path=tmp_path / "recall.png")
    assert_readable_bars(figure, 10, 6)
    assert_legend_beside_the_data(figure)
    low, high = error_bar_extent(figure.axes[0])
    assert low >= 0.0 and high <= 1.0, (low, high)


def test_per_class_f1_readable_clipped_and_legend_outside():
    values, errors = ten_by_six(1)
    figure = class_figures.plot_per_class_f1(values, CLASSES, errors=errors)
    assert_readable_bars(figure, 10, 6)
    assert_legend_beside_the_data(figure)
    low, high = error_bar_extent(figure.axes[0])
    assert low >= 0.0 and high <= 1.0, (low, high)


def test_clipped_errors():
    lower, upper = plotting.clipped_errors([0.0, 0.95, 0.5, np.nan], [0.2, 0.1, 0.1, 0.3])
    np.testing.assert_allclose(lower, [0.0, 0.1, 0.1, 0.0])
    np.testing.assert_allclose(upper, [0.2, 0.05, 0.1, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="one error per value"):
        plotting.clipped_errors([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="non-negative"):
        plotting.clipped_errors([0.1], [-0.1])


def test_integer_ticks_and_legend_outside():
    figure = plotting.new_figure((4.0, 3.0))
    ax = figure.add_subplot()
    ax.plot([0, 1, 2], [0.1, 0.9, 0.5], label="val")
    plotting.integer_ticks(ax, "x")
    plotting.legend_outside(ax)
    figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert_legend_beside_the_data(figure)
    with pytest.raises(ValueError, match="argument `axis`.*Received: axis='z'"):
        plotting.integer_ticks(ax, "z")
    empty = plotting.new_figure((2.0, 2.0)).add_subplot()
    assert plotting.legend_outside(empty) is None
