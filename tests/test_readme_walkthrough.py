"""The README's "your own images" walkthrough, run as printed (offline and small): PNGs made
from BreastMNIST in, `model.keras` out, an `evaluate` report, a `predict` CSV whose
probabilities match the saved model's own predictions on the same files."""

import csv
import os
import pathlib
import re
import shlex
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from kerasimb.cli.main import main

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BREAST = ROOT.parent / "shared" / "data" / "breastmnist.npz"
CLASS_NAMES = ("malignant", "benign")  # the labels of breastmnist.npz: 0 malignant, 1 benign
SIZE = 32  # the README's 224 px, at the smallest size MobileNetV2 takes


def walkthrough_commands():
    section = README.split("## Your own images", 1)[1]
    block = re.search(r"```bash\n(.*?)\n```", section, flags=re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def write_pngs(root, images, labels):
    """One sub-folder per class of `SIZE`-px grey PNGs; returns the file paths in order."""
    paths = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"case_{i:04d}.png"
        Image.fromarray(image).resize((SIZE, SIZE), Image.BILINEAR).save(path)
        paths.append(path)
    return paths


@pytest.mark.skipif(not BREAST.exists(), reason="../shared/data/breastmnist.npz is absent")
def test_readme_walkthrough_folder_to_model_to_report_to_predictions(tmp_path, monkeypatch,
                                                                      capsys):
    with np.load(BREAST) as npz:
        x, y = npz["train_images"], npz["train_labels"].ravel()
        new_x = npz["test_images"][:20]
    keep = np.concatenate([np.flatnonzero(y == 0)[:60], np.flatnonzero(y == 1)[:140]])
    write_pngs(tmp_path / "breast", x[keep], y[keep])
    new_paths = sorted(write_pngs(tmp_path / "new_scans" / "ward", new_x,
                                  np.zeros(len(new_x), int)))
    features = keras.applications.MobileNetV2(include_top=False, weights=None,
                                              input_shape=(SIZE, SIZE, 3), pooling="avg")
    weights = tmp_path / "mobilenetv2_notop.weights.h5"
    features.save_weights(weights)
    monkeypatch.chdir(tmp_path)

    commands = walkthrough_commands()
    assert [c[:2] for c in commands] == [["kerasimb", "train"], ["kerasimb", "evaluate"],
                                         ["kerasimb", "predict"]]
    # offline, small and quick: a local weights file, 32 px, 2 epochs (the first frozen)
    replace = {"--image-size": ("224", str(SIZE)), "--weights": ("imagenet", str(weights)),
               "--epochs": ("20", "2"), "--freeze-backbone": ("3", "1")}
    for argv in commands:
        for i, word in enumerate(argv[:-1]):
            if word in replace:
                assert argv[i + 1] == replace[word][0], (word, argv[i + 1])
                argv[i + 1] = replace[word][1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(argv[1:] + ["--no-progress"] * (argv[1] != "evaluate")) == 0, argv
    train, evaluate, predict = commands
    assert "--augment" in train and train[train.index("--augment") + 1] == "standard"
    assert "--freeze-backbone" in train
    out = capsys.readouterr().out

    model_file = pathlib.Path(train[train.index("--output") + 1]) / "model.keras"
    model = keras.models.load_model(model_file, safe_mode=True)
    assert list(model.class_names) == ["benign", "malignant"]  # sorted folder names
    assert model.metadata["method"] == "ce+perturb"
    assert "--calibrate" in train and model.temperature != 1.0  # fitted, stored, applied below
    train_report = (model_file.parent / "report.md").read_text(encoding="utf-8")
    assert "## Calibration" in train_report and " → " in train_report

    report_dir = pathlib.Path(evaluate[evaluate.index("--output") + 1])
    report = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "mean of the per-class recalls" in report and str(tmp_path) not in report
    assert "quadratic_kappa" not in report  # benign / malignant are not ordered grades
    assert "## Calibration" in report and "(reliability.png)" in report
    for name in ("metrics.json", "summary.csv", "per_class.csv", "predictions.csv"):
        assert (report_dir / name).is_file(), name
    with open(report_dir / "predictions.csv", newline="") as f:
        scored = list(csv.DictReader(f))
    assert 0 < len(scored) < len(keep) // 4  # the held-out test images only (15 %)

    with open(predict[predict.index("--output") + 1], newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(new_paths)
    assert sorted(os.path.basename(r["path"]) for r in rows) == [p.name for p in new_paths]
    probabilities = np.array([[float(r["p_benign"]), float(r["p_malignant"])] for r in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # the same files read independently (PIL) through the saved model's own predict
    order = [next(p for p in new_paths if p.name == os.path.basename(r["path"])) for r in rows]
    images = np.stack([np.asarray(Image.open(p))[..., None] for p in order])
    np.testing.assert_allclose(probabilities, model.predict(images), atol=1e-5)
    assert [r["predicted_class"] for r in rows] == [
        model.class_names[i] for i in probabilities.argmax(axis=1)]
    assert "malignant" in out  # the commands print the dataset summary and the scores
