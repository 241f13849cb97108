"""`runs.train`: one method, one model per seed saved to deploy, the report, resume."""

import csv
import json

import keras
import numpy as np
import pytest
from deploy_helpers import png_folder

from kerasimb import data, inference, methods, runs

TINY = {"backbone": "small_cnn", "epochs": 2, "batch_size": 16, "progress": False}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return data.load_dataset(f"folder:{png_folder(tmp_path_factory.mktemp('pngs'))}")


def test_one_seed_saves_model_keras_and_the_report(dataset, tmp_path, monkeypatch):
    result = runs.train(dataset, "ce", tmp_path, seeds=[3], **TINY)
    assert result.settings["models"] == {"3": "model.keras"}
    for name in ("model.keras", "report.md", "metrics.json", "history.csv",
                 "training_curves.png", "predictions.npz"):
        assert (tmp_path / name).is_file(), name
    model = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(model, inference.InferenceModel)
    assert model.metadata["seed"] == 3 and model.metadata["method"] == "ce"
    assert model.metadata["select_by"] == "balanced_accuracy"
    np.testing.assert_array_equal(model.predict(dataset.test[0]),
                                  result.probabilities[("ce", 3)])
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    history = result.runs[0]["history"]
    assert [int(r["epoch"]) for r in rows] == [1, 2] and {r["seed"] for r in rows} == {"3"}
    assert [float(r["loss"]) for r in rows] == pytest.approx(history["loss"])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["settings"]["models"] == {"3": "model.keras"}

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(methods.Method, "train", no_training)
    again = runs.train(dataset, "ce", tmp_path, seeds=[3], **TINY)  # resumes: nothing to train
    assert again.reports == result.reports


def test_several_seeds_and_the_last_epoch(dataset, tmp_path):
    result = runs.train(dataset, "reweight", tmp_path, seeds=[0, 1], select_by=None, **TINY)
    assert result.settings["models"] == {"0": "seed0/model.keras", "1": "seed1/model.keras"}
    for seed in (0, 1):
        model = keras.models.load_model(tmp_path / f"seed{seed}" / "model.keras")
        assert model.metadata["seed"] == seed and model.metadata["select_by"] is None
        np.testing.assert_array_equal(model.predict(dataset.test[0]),
                                      result.probabilities[("reweight", seed)])


def test_one_method_only(dataset, tmp_path):
    with pytest.raises(TypeError, match="one method"):
        runs.train(dataset, ["ce", "focal"], tmp_path, **TINY)
