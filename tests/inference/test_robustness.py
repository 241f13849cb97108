import numpy as np
import pytest

from kerasimb.inference import plot_sweep


def rows(values, key="epsilon"):
    return [{"epsilon": v if key == "epsilon" else 1e-3, "temperature": v if key == "temperature"
             else 1000.0, "balanced_accuracy": 0.5 + v, "smallest_class_recall": 0.1}
            for v in values]


def test_plot_sweep_writes_png_and_averages_runs(tmp_path):
    path = tmp_path / "eps.png"
    figure = plot_sweep({"ce": [rows([0.0, 1e-3, 1e-2]), rows([0.0, 1e-3, 1e-2])],
                         "rw": [rows([1e-3])]},
                        references={"ce": {"balanced_accuracy": 0.5, "smallest_class_recall": 0.1}},
                        path=path, title="t")
    assert path.is_file() and path.stat().st_size > 1000
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), [1e-3, 1e-2])  # epsilon 0 left out (log axis)
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [0.501, 0.51])
    assert figure.axes[0].get_xscale() == "log"
    temps = plot_sweep({"ce": [rows([1.0, 1000.0], key="temperature")]}, x="temperature")
    assert "T" in temps.axes[0].get_xlabel()


def test_errors():
    with pytest.raises(ValueError, match="Received: x='delta'"):
        plot_sweep({"ce": [rows([1e-3])]}, x="delta")
    with pytest.raises(ValueError, match="curves"):
        plot_sweep({})
