"""`utils.plotting.history_band` and `plot_mean_training_curves`: the plotted series are the
means (and min-max or std bands) of the histories, computed here with numpy."""

import numpy as np
import pytest

from kerasimb.utils.plotting import history_band, plot_mean_training_curves

HISTORIES = {
    "quadsnet": [
        {"loss": [1.2, 0.7, 0.5], "val_loss": [1.4, 1.0, 0.9],
         "accuracy": [0.4, 0.6, 0.8], "val_accuracy": [0.3, 0.5, 0.6]},
        {"loss": [1.0, 0.9, 0.3], "val_loss": [1.6, 1.2, 0.7],
         "accuracy": [0.5, 0.7, 0.9], "val_accuracy": [0.35, 0.45, 0.7]},
        {"loss": [1.1, 0.5, 0.4], "val_loss": [1.5, 0.8, 1.1],
         "accuracy": [0.45, 0.65, 0.85], "val_accuracy": [0.2, 0.55, 0.65]},
    ],
    "mobilenet": [{"loss": [2.0, 1.5, 1.0], "val_loss": [2.2, 1.9, 1.8],
                   "accuracy": [0.2, 0.3, 0.5], "val_accuracy": [0.1, 0.2, 0.3]}],
}


def test_band_is_the_numpy_mean_min_max_and_std():
    runs = HISTORIES["quadsnet"]
    table = np.array([h["val_loss"] for h in runs])
    out = history_band(runs, "val_loss")
    np.testing.assert_allclose(out["epoch"], [1, 2, 3])
    np.testing.assert_allclose(out["mean"], table.mean(axis=0))
    np.testing.assert_allclose(out["low"], table.min(axis=0))
    np.testing.assert_allclose(out["high"], table.max(axis=0))
    std = history_band(runs, "val_loss", band="std")
    np.testing.assert_allclose(std["high"] - std["mean"], table.std(axis=0, ddof=1))
    np.testing.assert_allclose(std["mean"] - std["low"], table.std(axis=0, ddof=1))


def test_band_averages_the_runs_that_reached_each_epoch_and_skips_gaps():
    out = history_band([{"loss": [1.0, None, 0.2]}, {"loss": [3.0]}, {}], "loss")
    np.testing.assert_allclose(out["epoch"], [1, 3])  # epoch 2: no run logged a value
    np.testing.assert_allclose(out["mean"], [2.0, 0.2])
    np.testing.assert_allclose(out["runs"], [2, 1])
    assert history_band([{"loss": [1.0]}], "val_auc")["epoch"].size == 0


def test_plotted_lines_equal_the_histories_means():
    figure = plot_mean_training_curves(HISTORIES)
    assert [axis.get_title() for axis in figure.axes] == ["accuracy", "loss"]
    for axis in figure.axes:
        lines = {line.get_label(): line for line in axis.lines}
        assert set(lines) == {f"{m}, {kind}" for m in HISTORIES
                              for kind in ("training", "validation")}
        for model, runs in HISTORIES.items():
            for key, kind in ((axis.get_title(), "training"),
                              (f"val_{axis.get_title()}", "validation")):
                line = lines[f"{model}, {kind}"]
                np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
                np.testing.assert_allclose(line.get_ydata(),
                                           np.mean([h[key] for h in runs], axis=0))
                assert line.get_linestyle() == ("-" if kind == "training" else "--")
    # One shaded band per (model with several seeds, curve): quadsnet's two per panel.
    assert [len(axis.collections) for axis in figure.axes] == [2, 2]
    band = figure.axes[1].collections[0].get_paths()[0].vertices[:, 1]
    table = np.array([h["loss"] for h in HISTORIES["quadsnet"]])
    assert np.isclose(band.min(), table.min()) and np.isclose(band.max(), table.max())


def test_writes_a_png(tmp_path):
    plot_mean_training_curves(HISTORIES, metrics=("loss",), path=tmp_path / "curves.png",
                              title="toy")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("kwargs, message", [
    ({"histories": {}}, "argument `histories`"),
    ({"histories": {"cnn": []}}, r"no histories for \['cnn'\]"),
    ({"histories": HISTORIES, "metrics": ("auc",)}, r"Received: metrics=\['auc'\]"),
    ({"histories": HISTORIES, "band": "iqr"}, "Received: band='iqr'"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_mean_training_curves(**kwargs)
