"""Interruption and resume of `runs.compare(output_dir=...)` and `kerasimb compare`."""

import json
import os
import signal
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasimb import methods, runs
from kerasimb.runs import RunStore
from kerasimb.callbacks import ResumableBackup
from kerasimb.data import ImageDataset
from kerasimb.models import model_fn

import resume_script  # noqa: E402  (tests/reliability, on sys.path under pytest)

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_script.py")
TINY_MODEL = model_fn("small_cnn", width=4, depth=2)


def tiny_dataset():
    return resume_script.tiny_dataset((8, 4, 2), (2, 2, 2), (3, 3, 3))


def run_compare(output_dir, method_names=("ce",), **kwargs):
    settings = dict(backbone=TINY_MODEL, epochs=1, seeds=[0], batch_size=8, learning_rate=1e-2,
                    progress=False, output_dir=output_dir)
    settings.update(kwargs)
    return runs.compare(tiny_dataset(), list(method_names), **settings)


@pytest.fixture
def no_training(monkeypatch):
    """Makes any training attempt fail: for checking that finished runs are skipped."""

    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(methods.Method, "train", fail)
    for cls in {type(methods.get(n)) for n in methods.names()}:
        if "train" in vars(cls):
            monkeypatch.setattr(cls, "train", fail)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A folder holding one finished `ce` run (seed 0), and its result."""
    folder = tmp_path_factory.mktemp("finished")
    return folder, run_compare(folder)


def _copy(finished, tmp_path):
    shutil.copytree(finished[0], tmp_path / "out")
    return tmp_path / "out"


def test_finished_runs_are_written_and_skipped(finished, tmp_path, monkeypatch):
    folder, first = finished
    assert (folder / "runs" / "ce" / "seed0.json").exists()
    assert (folder / "runs" / "ce" / "seed0.npz").exists()
    assert not any((folder / "backup").rglob("*.h5"))  # backups dropped once finished
    folder = _copy(finished, tmp_path)
    trained = []
    original = methods.Method.train

    def train(self, *args, **kwargs):
        trained.append(kwargs["seed"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(methods.Method, "train", train)
    second = run_compare(folder, seeds=[0, 1])
    assert trained == [1]  # only the new seed is trained
    assert second.reports[("ce", 0)] == first.reports[("ce", 0)]
    np.testing.assert_array_equal(second.probabilities[("ce", 0)],
                                  first.probabilities[("ce", 0)])
    assert second.runs[0]["history"] == first.runs[0]["history"]
    run_compare(folder, seeds=[1, 0])
    assert trained == [1]  # nothing left to train


@pytest.mark.parametrize("change", [
    {"epochs": 2}, {"learning_rate": 0.1}, {"batch_size": 4}, {"select_by": "mcc"},
    {"backbone": model_fn("small_cnn", width=4, depth=1)}, {"jit_compile": False},
    {"augment": "flip"}, {"mixed_precision": "mixed_bfloat16"},
    {"callbacks": [keras.callbacks.TerminateOnNaN()]},
], ids=lambda change: next(iter(change)))
def test_settings_mismatch_is_a_clear_error(finished, change, no_training):
    name, value = next(iter(change.items()))
    with pytest.raises(ValueError, match=rf"output_dir.*overwrite=True.*{name}"):
        run_compare(finished[0], **change)


def test_saved_fingerprint_is_run_fingerprint_of_the_settings(finished):
    # compare records exactly `runs.run_fingerprint` of its settings (whose every key is tested
    # in test_run_fingerprint.py), with the settings' actual values
    folder, result = finished
    with open(folder / "runs" / "ce" / "seed0.json", encoding="utf-8") as f:
        saved = json.load(f)["fingerprint"]
    assert saved == runs.run_fingerprint(result.settings, runs.dataset_fingerprint(tiny_dataset()),
                                         "ce", 0)
    assert saved["backbone"] == repr(TINY_MODEL) and saved["epochs"] == 1
    assert saved["optimizer"] == "Adam" and saved["jit_compile"] == "auto"


def test_method_parameter_and_data_mismatch(finished, tmp_path):
    store = RunStore(tmp_path)
    stored = {"epochs": 1, "method": {"params": {"weighting": "inverse"}}}
    store.save("reweight", 0, stored, {"method": "reweight", "seed": 0}, np.eye(3))
    assert store.load("reweight", 0, stored)[0] == {"method": "reweight", "seed": 0}
    with pytest.raises(ValueError, match="method.params.weighting: 'inverse' in the folder, "
                                         "'sqrt_inverse' now"):
        store.load("reweight", 0,
                   {"epochs": 1, "method": {"params": {"weighting": "sqrt_inverse"}}})
    dataset = tiny_dataset()
    x, y = dataset.train
    x = x.copy()
    x[0, 0, 0, 0] ^= 1  # one pixel differs
    other = ImageDataset((x, y), dataset.val, dataset.test, dataset.class_names, name="tiny")
    with pytest.raises(ValueError, match="sha256"):
        runs.compare(other, ["ce"], backbone=TINY_MODEL, epochs=1, seeds=[0],
                           batch_size=8, learning_rate=1e-2, progress=False,
                           output_dir=finished[0])


def test_overwrite_retrains(finished, tmp_path, monkeypatch):
    folder = _copy(finished, tmp_path)
    (folder / "backup" / "ce" / "seed7").mkdir(parents=True)
    trained = []
    monkeypatch.setattr(methods.Method, "train",
                        lambda self, *a, **k: trained.append(k["seed"]) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        run_compare(folder, epochs=2, overwrite=True)
    assert trained == [0]
    assert not (folder / "runs" / "ce").exists()
    assert not (folder / "backup" / "ce" / "seed7").exists()


def test_unfinished_backup_with_other_settings_is_an_error(tmp_path):
    dataset = tiny_dataset()
    store = RunStore(tmp_path)
    store.start("ce", 0, {"epochs": 99})
    with pytest.raises(ValueError, match="unfinished run.*epochs"):
        runs.compare(dataset, ["ce"], backbone=TINY_MODEL, epochs=1, seeds=[0],
                           batch_size=8, progress=False, output_dir=tmp_path)


@pytest.mark.slow
def test_custom_train_method_skips_finished(tmp_path, monkeypatch):
    method = methods.get("ce-crw", stage2_epochs=1)
    first = run_compare(tmp_path, [method])
    monkeypatch.setattr(type(method), "train", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("trained again")))
    second = run_compare(tmp_path, [methods.get("ce-crw", stage2_epochs=1)])
    assert second.reports == first.reports


def test_backup_files_are_complete_after_each_epoch(tmp_path):
    """Resuming from a backup restores weights, optimizer state and the epoch count."""
    backup_dir = tmp_path / "backup"

    class Stop(Exception):
        pass

    class StopAfterFirstEpoch(ResumableBackup):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 0:
                raise Stop

    dataset = tiny_dataset()
    keras.backend.clear_session()
    with pytest.raises(Stop):
        methods.get("ce").train(dataset, TINY_MODEL, epochs=2, batch_size=8, seed=0,
                                resume=StopAfterFirstEpoch(backup_dir))
    metadata = json.loads((backup_dir / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1 and len(metadata["logs"]) == 1
    assert sorted(os.listdir(backup_dir)) == ["epoch-1.state.npz", "epoch-1.weights.h5",
                                              "training_metadata.json"]
    keras.backend.clear_session()
    resumed_backup = ResumableBackup(backup_dir)
    assert resumed_backup.resume_epoch() == 1
    model, history = methods.get("ce").train(dataset, TINY_MODEL, epochs=2, batch_size=8,
                                             seed=0, resume=resumed_backup)
    assert history.epoch == [1]  # only the second epoch was trained here
    assert len(resumed_backup.history(history.history)["loss"]) == 2
    assert not backup_dir.exists()  # deleted when fit completes

    keras.backend.clear_session()
    reference, ref_history = methods.get("ce").train(dataset, TINY_MODEL, epochs=2,
                                                     batch_size=8, seed=0)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_cli_compare_resumes_and_restart(tmp_path, monkeypatch, capsys):
    from kerasimb.cli.main import main

    args = ["compare", "--methods", "ce", "--epochs", "1", "--seeds", "0", "--no-progress",
            "--output", str(tmp_path)]
    assert main(args) == 0
    assert (tmp_path / "runs" / "ce" / "seed0.json").exists()
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "report.md").exists()
    assert not [p for p in tmp_path.rglob(".*tmp*")]  # no temporary file left behind

    def fail(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(methods.Method, "train", fail)
    assert main(args) == 0  # resumes: nothing left to train
    with pytest.raises(AssertionError, match="trained again"):
        main(args + ["--restart"])
    capsys.readouterr()
    assert main(args[:4] + ["2"] + args[5:]) == 2  # other settings in the same folder
    assert "epochs: 1 in the folder, 2 now" in capsys.readouterr().err


# --- Killing a process mid-epoch ---------------------------------------------------------------


def _script(output, *extra, check=True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, SCRIPT, str(output), *extra], capture_output=True,
                          text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def _results(path):
    with open(path) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    _script(folder, "--no-output-dir", "--json", str(folder / "r.json"))
    return _results(folder / "r.json")


# SIGKILL mid-epoch runs in the default suite (three short subprocesses); the other signals are
# the same mechanism and run with `-m slow`.
@pytest.mark.parametrize("kill", [
    "reweight:0:2:1:SIGKILL",
    pytest.param("ce:0:1:0:SIGTERM", marks=pytest.mark.slow),
    pytest.param("ce:0:0:1:SIGINT", marks=pytest.mark.slow),
])
def test_killed_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, uninterrupted, kill):
    method, _, epoch, _, sig = kill.split(":")
    proc = _script(tmp_path, "--kill", kill, check=False)
    assert proc.returncode != 0
    if sig != "SIGINT":
        assert proc.returncode == -getattr(signal, sig)
    backup = tmp_path / "backup" / method / "seed0"
    if int(epoch) > 0:  # the finished epochs are kept
        assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == int(epoch)
    assert not (tmp_path / "runs" / method / "seed0.json").exists()
    _script(tmp_path)  # the same command again
    resumed = _results(tmp_path / "result.json")
    assert resumed == uninterrupted  # reports, histories and test probabilities


@pytest.mark.slow
def test_resume_with_model_selection(tmp_path):
    """`select_by`: the best epoch seen before the kill is remembered across the restart."""
    _script(tmp_path / "a", "--select-by", "balanced_accuracy", "--methods", "ce",
            "--no-output-dir", "--json", str(tmp_path / "a.json"))
    proc = _script(tmp_path / "b", "--select-by", "balanced_accuracy", "--methods", "ce",
                   "--kill", "ce:0:3:0:SIGKILL", check=False)
    assert proc.returncode == -signal.SIGKILL
    _script(tmp_path / "b", "--select-by", "balanced_accuracy", "--methods", "ce")
    assert _results(tmp_path / "b" / "result.json") == _results(tmp_path / "a.json")


def test_op_determinism_two_runs_identical(tmp_path):
    """Two runs in separate processes with `enable_op_determinism` give identical results."""
    runs = []
    for name in ("a", "b"):
        _script(tmp_path / name, "--deterministic", "--no-output-dir", "--epochs", "2",
                "--json", str(tmp_path / f"{name}.json"))
        runs.append(_results(tmp_path / f"{name}.json"))
    assert runs[0] == runs[1]
