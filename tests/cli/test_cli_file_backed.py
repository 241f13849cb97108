"""`--file-backed` / `--verify-images` on `train`, `compare`, `tune`: a folder kept on disk trains
exactly like the same folder in memory, and a damaged file is one line and exit status 2, before
training with `--verify-images`, at the batch that draws it without."""

import os
import sys
import warnings

import numpy as np
import pytest

from kerasimb import data, methods, runs
from kerasimb.cli.main import main

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runs"))
from deploy_helpers import png_folder  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return png_folder(tmp_path_factory.mktemp("pngs"))


@pytest.fixture
def damaged(folder, tmp_path):
    """A copy of the folder with one training-split file damaged in its middle: its PNG
    signature and IEND chunk are intact, so only decoding it finds the damage."""
    import shutil

    root = tmp_path / "damaged"
    shutil.copytree(folder, root)
    train_paths = data.load_dataset(f"folder:{root}", file_backed=True).paths["train"]
    path = os.path.join(root, train_paths[len(train_paths) // 2])
    raw = bytearray(open(path, "rb").read())
    start = raw.index(b"IDAT") + 8
    raw[start:start + 20] = bytes(b ^ 0xFF for b in raw[start:start + 20])
    open(path, "wb").write(bytes(raw))
    return root, path


def test_file_backed_training_sees_every_epoch_as_in_memory(folder):
    """Regression: the file-backed pipeline's size was unknown to `fit`, which then kept one
    iterator across epochs; it ran dry after the first epoch and every other epoch trained on
    nothing (loss 0.0)."""
    in_memory = data.load_dataset(f"folder:{folder}")
    on_disk = data.load_dataset(f"folder:{folder}", file_backed=True)
    for name in ("ce", "class-sampling", "balanced-mixup", "ce-crw"):
        method = methods.get(name)
        sizes = [int(method.train_dataset(ds, 8, 0)[0].cardinality())
                 for ds in (in_memory, on_disk)]
        assert sizes[0] == sizes[1], (name, sizes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        histories = [runs.compare(ds, ["ce"], epochs=3, batch_size=8, progress=False)
                     .runs[0]["history"]["loss"] for ds in (in_memory, on_disk)]
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    assert min(histories[1]) > 0.0


def test_verify_images_stops_before_training(damaged, tmp_path, capsys, monkeypatch):
    root, path = damaged

    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(methods.Method, "train", no_training)
    argv = ["train", "--dataset", f"folder:{root}", "--file-backed", "--verify-images",
            "--epochs", "1", "--batch-size", "8", "--output", str(tmp_path / "out"),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: argument --dataset"), err
    assert os.path.basename(path) in err


def test_a_damaged_file_met_in_training_is_one_line(damaged, tmp_path, capsys):
    root, path = damaged
    argv = ["compare", "--dataset", f"folder:{root}", "--file-backed", "--methods", "ce",
            "--epochs", "1", "--batch-size", "8", "--output", str(tmp_path / "out"),
            "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: a training image could "
                                                   "not be decoded"), err
    assert path in err and "--verify-images" in err and "rerun the same command" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "--verify-images"], "argument --verify-images: needs --file-backed"),
    (["compare", "--file-backed"], "argument --file-backed: does not apply to dataset"),
    (["tune", "--verify-images"], "argument --verify-images: needs --file-backed"),
])
def test_flags_that_do_not_apply_exit_2(argv, message, tmp_path, capsys):
    assert main(argv + ["--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
