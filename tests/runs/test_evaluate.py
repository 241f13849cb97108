"""`runs.evaluate`: a saved model's full report on a split, checked against scikit-learn."""

import csv
import json
import os

import numpy as np
import pytest
from deploy_helpers import png_folder
from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support

from kerasimb import data, runs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = png_folder(tmp_path_factory.mktemp("pngs"))
    out = tmp_path_factory.mktemp("model")
    runs.train(f"folder:{root}", "ldam+perturb", out, epochs=2, batch_size=16, progress=False)
    return root, out / "model.keras"


def test_report_matches_sklearn_and_the_files(trained, tmp_path):
    root, model_path = trained
    report = runs.evaluate(model_path, f"folder:{root}", output_dir=tmp_path)
    dataset = data.load_dataset(f"folder:{root}")
    model = runs.load_model(model_path)
    probabilities = model.predict(dataset.test[0])
    y, predicted = dataset.test[1], probabilities.argmax(axis=1)
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, predicted))
    for name in ("report.md", "metrics.json", "summary.csv", "per_class.csv", "predictions.csv",
                 "confusion_matrix.png", "roc.png", "precision_recall.png"):
        assert (tmp_path / name).is_file(), name
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=[0, 1],
                                                                     zero_division=np.nan)
    with open(tmp_path / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == ["left", "right"]
    for row, p, r, score, n in zip(rows, precision, recall, f1, support):
        assert int(row["count"]) == n
        for key, expected in (("precision", p), ("recall", r), ("f1", score)):
            value = float(row[key]) if row[key] != "nan" else float("nan")
            assert value == pytest.approx(expected, nan_ok=True)
    with open(tmp_path / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["path"] for r in rows] == dataset.paths["test"]
    np.testing.assert_allclose([[float(r["p_left"]), float(r["p_right"])] for r in rows],
                               probabilities, rtol=1e-6)
    assert [r["true_class"] for r in rows] == [dataset.class_names[c] for c in y]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["report"]["balanced_accuracy"] == pytest.approx(report["balanced_accuracy"])
    assert "ε =" in (tmp_path / "report.md").read_text()  # the perturbation is stated


def test_the_held_out_split_is_checked(trained, tmp_path):
    """Another folder of the same name (other images) is not the training run's dataset: its
    test split may hold images the model trained on."""
    root, model_path = trained
    same_name = png_folder(tmp_path / os.path.basename(root))
    with pytest.raises(ValueError, match="held-out"):
        runs.evaluate(model_path, f"folder:{same_name}")


def test_classes_and_shape_must_match(trained, tmp_path):
    _, model_path = trained
    with pytest.raises(ValueError, match="classes the model was trained on"):
        runs.evaluate(model_path, "digits-lt")
    with pytest.raises(ValueError, match="not a file"):
        runs.evaluate(tmp_path, "digits-lt")
    with pytest.raises(ValueError, match="`split`"):
        runs.evaluate(model_path, "digits-lt", split="holdout")


def test_nominal_classes_get_no_quadratic_kappa(trained, tmp_path):
    root, model_path = trained
    report = runs.evaluate(model_path, f"folder:{root}", output_dir=tmp_path)
    assert "quadratic_kappa" in report  # computed (metrics.json keeps it) ...
    with open(tmp_path / "summary.csv", newline="") as f:
        header = next(csv.reader(f))
    assert "quadratic_kappa" not in header and "balanced_accuracy" in header  # ... not shown
    assert "quadratic_kappa" not in (tmp_path / "report.md").read_text()
    assert runs.shown_metrics(report, ordinal=True)[:len(runs.DEFAULT_METRICS)] == [
        m for m in runs.DEFAULT_METRICS if report.get(m) is not None]
    assert "quadratic_kappa" in runs.shown_metrics(report, ordinal=True)


def test_notes_say_when_the_split_is_balanced_or_one_class_is_predicted():
    from kerasimb.runs.evaluate import notes

    names = ["a", "b"]
    assert notes(np.array([0, 1, 1]), np.array([0, 1, 0]), names, "test") == ""
    balanced = notes(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]), names, "val")
    assert "val split is balanced (2 per class)" in balanced and "Warning" not in balanced
    single = notes(np.array([0, 1, 1]), np.array([1, 1, 1]), names, "test")
    assert "predicts one class only (b)" in single and "balanced" not in single
