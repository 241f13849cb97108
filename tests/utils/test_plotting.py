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
