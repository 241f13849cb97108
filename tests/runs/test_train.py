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


@pytest.mark.parametrize("method", ["ce", "ce+perturb"])
def test_calibrate_stores_the_validation_temperature_in_the_model(dataset, tmp_path, method):
    result = runs.train(dataset, method, tmp_path, seeds=[0], calibrate=True, **TINY)
    run = result.runs[0]
    temperature = run["calibration"]["temperature"]
    model = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert model.temperature == pytest.approx(temperature)
    # The model predicts what the report scored: the calibrated probabilities.
    np.testing.assert_allclose(model.predict(dataset.test[0]), result.probabilities[method, 0],
                               atol=1e-5)
    x_val, y_val = dataset.val
    if method == "ce":  # refitted independently from the network's own validation logits
        logits = model.network.predict(x_val / 255.0 if x_val.dtype == np.uint8 else x_val,
                                       verbose=0)
        assert inference.fit_temperature(y_val, logits, from_logits=True) == pytest.approx(
            temperature, rel=1e-3)
    nll = run["calibration"]["validation_nll"]
    assert nll["after"] <= nll["before"] + 1e-9
    # Temperature never changes the predicted class: undoing it gives the same arg-max.
    raw = inference.apply_temperature(result.probabilities[method, 0], 1.0 / temperature)
    np.testing.assert_array_equal(raw.argmax(axis=1),
                                  result.probabilities[method, 0].argmax(axis=1))
    before = run["calibration"]["before"]
    from kerasimb.metrics import expected_calibration_error
    assert before["ece"] == pytest.approx(expected_calibration_error(dataset.test[1], raw),
                                          abs=1e-4)
    text = (tmp_path / "report.md").read_text()
    assert "## Calibration" in text and " → " in text and "temperature" in text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "reliability.png" in json.dumps(manifest)


def test_calibrate_is_part_of_the_experiment(dataset, tmp_path):
    runs.train(dataset, "ce", tmp_path, seeds=[0], **TINY)
    with pytest.raises(ValueError, match="calibrate"):
        runs.train(dataset, "ce", tmp_path, seeds=[0], calibrate=True, **TINY)
    with pytest.raises(TypeError, match="calibrate"):
        runs.train(dataset, "ce", tmp_path / "other", seeds=[0], calibrate="yes", **TINY)
