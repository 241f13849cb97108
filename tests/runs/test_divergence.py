"""A run whose loss (or prediction) stops being finite is recorded as diverged and the comparison
goes on with the other methods and seeds; `stop_on_divergence=True` stops with a clear error."""

import json

import keras
import numpy as np
import pytest

from kerasimb import runs
from kerasimb.cli.main import main
from kerasimb.data import ImageDataset
from kerasimb.methods.baselines import CrossEntropy
from kerasimb.models import model_fn

TINY_MODEL = model_fn("small_cnn", width=4, depth=2)


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3, 0] += 170
        return x, y

    return ImageDataset(split([12, 5, 2]), split([4, 4, 4]), split([6, 6, 6]),
                        ["head", "middle", "tail"], name="tiny")


class _Jump(keras.optimizers.schedules.LearningRateSchedule):
    """A normal learning rate for `steps` steps, then an absurd one."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, step):
        return keras.ops.where(step < self.steps, 1e-3, 1e30)

    def get_config(self):
        return {"steps": self.steps}


class Exploding(CrossEntropy):
    """Cross-entropy whose learning rate jumps to 1e30 after `finite_steps` steps."""

    name = "exploding"
    defaults = {"finite_steps": 0}

    def compile(self, model, dataset, learning_rate, jit_compile="auto"):
        model.compile(optimizer=keras.optimizers.Adam(_Jump(self.params["finite_steps"])),
                      loss=self.loss(dataset), metrics=["accuracy"], jit_compile=jit_compile)


class NaNPredictions(CrossEntropy):
    """Trains normally; predicts NaN probabilities."""

    name = "nan-predictions"

    def predict(self, model, x, batch_size=256):
        probabilities = super().predict(model, x, batch_size)
        return np.full_like(probabilities, np.nan)


def _compare(**kwargs):
    kwargs = {"backbone": TINY_MODEL, "epochs": 2, "seeds": [0], "batch_size": 8,
              "learning_rate": 1e-2, "progress": False, **kwargs}
    return runs.compare(tiny_dataset(), **kwargs)


def test_diverged_run_is_recorded_and_the_comparison_goes_on(tmp_path):
    # 19 training images at batch size 8: 3 steps an epoch, so the jump comes in epoch 2
    result = _compare(methods=["ce", Exploding(finite_steps=3), NaNPredictions()],
                      output_dir=tmp_path / "run")
    assert result.methods == ["ce", "exploding", "nan-predictions"]
    ce, exploding, nan = result.runs
    assert "diverged" not in ce and ce["report"]["balanced_accuracy"] is not None
    assert exploding["diverged"]["epoch"] == 2
    assert np.isfinite(exploding["diverged"]["last_finite_loss"])
    assert "loss" in exploding["diverged"]["reason"]
    assert nan["diverged"]["epoch"] == 2 and "probabilit" in nan["diverged"]["reason"]
    assert ("exploding", 0) not in result.probabilities
    assert [(r["method"], r["seed"]) for r in result.diverged()] == [
        ("exploding", 0), ("nan-predictions", 0)]
    table = result.table()
    assert "diverged at epoch 2" in table
    summary = result.summary(["balanced_accuracy"])
    assert summary["exploding"]["balanced_accuracy"]["n"] == 0
    assert summary["ce"]["balanced_accuracy"]["n"] == 1

    paths = result.save(tmp_path / "run")
    saved = json.loads(open(paths["metrics.json"]).read())
    assert [d["method"] for d in saved["diverged"]] == ["exploding", "nan-predictions"]
    assert saved["diverged"][0]["epoch"] == 2
    report = open(paths["report.md"]).read()
    assert "diverged at epoch 2" in report and "left out of" in report
    assert "confusion_ce.png" in paths and "confusion_exploding.png" not in paths


def test_resumed_comparison_loads_a_diverged_run_without_training(tmp_path, monkeypatch):
    first = _compare(methods=["ce", Exploding()], output_dir=tmp_path)
    assert first.runs[1]["diverged"]["epoch"] == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Exploding, "train", no_training)
    monkeypatch.setattr(CrossEntropy, "train", no_training)
    again = _compare(methods=["ce", Exploding()], output_dir=tmp_path)
    assert again.runs[1]["diverged"] == first.runs[1]["diverged"]
    assert again.table() == first.table()


def test_every_run_diverged_still_gives_a_report(tmp_path):
    result = _compare(methods=[Exploding()], seeds=[0, 1], epochs=1)
    assert [r["diverged"]["epoch"] for r in result.runs] == [1, 1]
    assert "diverged at epoch 1" in result.table()
    paths = result.save(tmp_path)
    assert "diverged" in open(paths["report.md"]).read()


def test_stop_on_divergence_raises_a_clear_error():
    with pytest.raises(ValueError, match=r"`exploding` seed 0 diverged at epoch 1.*learning "
                                         r"rate"):
        _compare(methods=[Exploding(), "ce"], stop_on_divergence=True, epochs=1)


def _cli(tmp_path, *extra):
    return ["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
            "--epochs", "1", "--seeds", "0", "--batch-size", "64", "--learning-rate", "1e30",
            "--no-progress", "--output", str(tmp_path / "run"), *extra]


def test_cli_records_a_diverged_run(tmp_path, capsys):
    assert main(_cli(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "diverged at epoch 1" in captured.out, captured
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["diverged"][0]["method"] == "ce"


def test_cli_stop_on_divergence_exits_2_with_one_line(tmp_path, capsys):
    assert main(_cli(tmp_path, "--stop-on-divergence")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: "), err
    assert "diverged at epoch 1" in err and "--learning-rate" in err, err


def test_cli_train_with_every_seed_diverged_exits_2_after_saving_the_report(tmp_path, capsys):
    argv = ["train", "--dataset", "digits-lt", "--image-size", "8", "--method", "ce",
            "--epochs", "1", "--batch-size", "64", "--learning-rate", "1e30", "--no-progress",
            "--output", str(tmp_path / "run")]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "diverged for every seed" in captured.err, captured
    assert "diverged at epoch 1" in captured.out
    assert (tmp_path / "run" / "report.md").is_file()
    assert not (tmp_path / "run" / "model.keras").exists()
