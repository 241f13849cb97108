"""An output folder belongs to one experiment: `manifest.json` lists every file it wrote (with
its SHA-256 and size); a folder holding another experiment (other shared settings) is refused
unless `overwrite=True` (`--restart`), which removes the files the previous experiment wrote (and
only those); more or other methods and seeds extend the same experiment, and a save removes the
report files of methods no longer in it, keeping their finished runs."""

import hashlib
import json
import os

import numpy as np
import pytest

from kerasimb import methods, runs
from kerasimb.cli.main import main
from kerasimb.data import ImageDataset
from kerasimb.models import model_fn

TINY_MODEL = model_fn("small_cnn", width=4, depth=2)


def tiny_dataset(shift=0):
    rng = np.random.default_rng(shift)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3, 0] += 170
        return x, y

    return ImageDataset(split([12, 5, 2]), split([4, 4, 4]), split([6, 6, 6]),
                        ["head", "middle", "tail"], name="tiny")


def _compare(folder, methods_=("ce",), save=True, **kwargs):
    kwargs = {"backbone": TINY_MODEL, "epochs": 1, "seeds": [0], "batch_size": 8,
              "learning_rate": 1e-2, "progress": False, **kwargs}
    result = runs.compare(tiny_dataset(), list(methods_), output_dir=folder, **kwargs)
    if save:
        result.save(folder, overwrite=kwargs.get("overwrite", False))
    return result


def _manifest(folder):
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_manifest_lists_every_file_written_with_its_checksum(tmp_path):
    _compare(tmp_path, ["ce", "reweight"], save_models=True)
    manifest = _manifest(tmp_path)
    files = manifest["files"]
    for name in ("report.md", "metrics.json", "summary.csv", "per_class.csv", "predictions.csv",
                 "predictions.npz", "class_distribution.png", "per_class_recall.png",
                 "confusion_ce.png", "confusion_reweight.png", "runs/ce/seed0.json",
                 "runs/ce/seed0.npz", "runs/reweight/seed0.json",
                 "models/ce/seed0/model.keras"):
        assert name in files, name
    for name, entry in files.items():
        path = tmp_path / name
        assert entry == {"sha256": _sha256(path), "size": path.stat().st_size}, name
    assert "manifest.json" not in files
    assert manifest["complete"] is True and manifest["experiment"]["kind"] == "compare"


def test_another_experiment_is_refused_and_nothing_is_deleted(tmp_path):
    _compare(tmp_path, ["ce"])
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    # no run in common: the store alone did not see it
    with pytest.raises(ValueError, match=r"overwrite=True.*--restart.*another experiment "
                                         r"\(epochs: 1 in the folder, 2 now\)"):
        _compare(tmp_path, ["reweight"], epochs=2)
    with pytest.raises(ValueError, match=r"another experiment.*learning_rate"):
        _compare(tmp_path, ["ce"], seeds=[1], learning_rate=0.1)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


def test_other_methods_and_seeds_extend_the_experiment_without_stale_figures(tmp_path):
    _compare(tmp_path, ["ce", "reweight"])
    _compare(tmp_path, ["reweight"], seeds=[0, 1])
    assert not (tmp_path / "confusion_ce.png").exists()  # not in this report: removed
    assert (tmp_path / "runs" / "ce" / "seed0.json").is_file()  # a finished run: kept
    files = _manifest(tmp_path)["files"]
    assert "runs/ce/seed0.json" in files and "runs/reweight/seed1.json" in files
    assert "confusion_ce.png" not in files
    report = (tmp_path / "report.md").read_text()
    assert "confusion_reweight.png" in report and "`ce`" not in report


def test_resuming_the_same_experiment_is_not_another(tmp_path, monkeypatch):
    first = _compare(tmp_path, ["ce"])

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(methods.Method, "train", no_training)
    again = _compare(tmp_path, ["ce"])
    assert again.reports == first.reports
    assert "confusion_ce.png" in _manifest(tmp_path)["files"]


def test_restart_removes_the_previous_experiments_files_only(tmp_path):
    _compare(tmp_path, ["ce"], save_models=True)
    (tmp_path / "notes.txt").write_text("mine")  # a user's file: never removed
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "confusion_ce.png").write_text("mine too")
    _compare(tmp_path, ["reweight"], epochs=2, overwrite=True)
    assert not (tmp_path / "confusion_ce.png").exists()
    assert not (tmp_path / "runs" / "ce").exists() and not (tmp_path / "models").exists()
    assert (tmp_path / "confusion_reweight.png").is_file()
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "plots" / "confusion_ce.png").read_text() == "mine too"
    files = _manifest(tmp_path)["files"]
    assert "confusion_ce.png" not in files and "confusion_reweight.png" in files


def test_saving_a_result_into_another_experiments_folder(tmp_path):
    _compare(tmp_path / "a", ["ce"])
    other = _compare(tmp_path / "b", ["reweight"], learning_rate=0.1)
    with pytest.raises(ValueError, match=r"overwrite=True.*another experiment"):
        other.save(tmp_path / "a")
    assert (tmp_path / "a" / "confusion_ce.png").is_file()
    other.save(tmp_path / "a", overwrite=True)
    assert not (tmp_path / "a" / "confusion_ce.png").exists()
    assert (tmp_path / "a" / "confusion_reweight.png").is_file()


def _cli(folder, method, *extra):
    return ["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", method,
            "--epochs", "1", "--seeds", "0", "--batch-size", "64", "--no-progress",
            "--output", str(folder), *extra]


def test_cli_another_experiment_exits_2_naming_restart(tmp_path, capsys):
    folder = tmp_path / "run"
    assert main(_cli(folder, "ce")) == 0
    capsys.readouterr()
    assert main(_cli(folder, "reweight", "--epochs", "2")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: "), err
    assert "another experiment" in err and "--restart" in err and "epochs" in err, err
    assert (folder / "confusion_ce.png").is_file()
    assert main(_cli(folder, "reweight", "--epochs", "2", "--restart")) == 0
    assert not (folder / "confusion_ce.png").exists()
    assert (folder / "confusion_reweight.png").is_file()


def test_train_and_evaluate_write_a_manifest(tmp_path, capsys):
    train = tmp_path / "train"
    argv = ["train", "--dataset", "digits-lt", "--image-size", "8", "--method", "ce",
            "--epochs", "1", "--batch-size", "64", "--no-progress", "--output", str(train)]
    assert main(argv) == 0
    files = _manifest(train)["files"]
    for name in ("model.keras", "history.csv", "training_curves.png", "report.md",
                 "runs/ce/seed0.json"):
        assert name in files, name
    evaluated = tmp_path / "eval"
    argv = ["evaluate", "--model", str(train / "model.keras"), "--dataset", "digits-lt",
            "--output", str(evaluated)]
    assert main(argv) == 0
    files = _manifest(evaluated)["files"]
    assert {"report.md", "metrics.json", "roc.png", "predictions.csv"} <= set(files)
    assert main(argv) == 0  # the same evaluation again: not another experiment
    capsys.readouterr()
    assert main([*argv, "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another experiment" in err and "--restart" in err, err
    assert main([*argv, "--split", "val", "--restart"]) == 0
    assert json.loads((evaluated / "metrics.json").read_text())["split"] == "val"


def test_paths_built_from_a_relative_output_dir_are_listed_once(tmp_path, monkeypatch):
    from kerasimb.runs.manifest import write_manifest

    monkeypatch.chdir(tmp_path)
    os.makedirs("runs/x")
    for name in ("runs/x/a.txt", "runs/x/b.txt"):
        with open(name, "w") as f:
            f.write(name)
    manifest = write_manifest("runs/x", ["runs/x/a.txt", "b.txt"], {"kind": "t", "settings": {}})
    assert sorted(manifest["files"]) == ["a.txt", "b.txt"]
