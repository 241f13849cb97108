"""Killing a recipe (or `kerasimb tune`) mid-training, then rerunning the same command.

Each recipe runs as a subprocess through `kill_wrapper.py`, which counts the training batches
of every `fit` and sends the process a signal at the end of a chosen batch (mid-epoch). The
fast tests check that the rerun of the same command finishes, trains exactly what was left
(finished runs are loaded, the interrupted one continues at its last completed epoch) and
writes the report; the slow ones also check that the final figures equal an uninterrupted
run's.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(__file__)
WRAPPER = os.path.join(HERE, "kill_wrapper.py")


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """A MedMNIST-style npz: 3 classes of 8x8 images, train 12/6/3, val 3/3/3, test 5/5/5
    (3 batches of 8 an epoch)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, per_class in (("train", [12, 6, 3]), ("val", [3, 3, 3]), ("test", [5, 5, 5])):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3] += 170
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y[:, None]
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, **arrays)
    return f"medmnist:{path}"


def run(command, args, kill_after=None, sig="SIGKILL", count=None):
    """Runs `command` (a recipe name or "kerasimb") with `args`; returns the process."""
    extra = []
    if kill_after is not None:
        extra += ["--kill-after", str(kill_after), "--signal", sig]
    if count is not None:
        extra += ["--count", str(count)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, WRAPPER, *extra, command, *args],
                          capture_output=True, text=True, env=env, timeout=900)
    if kill_after is None and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}:\n{proc.stdout[-2000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def run_in_process(command, args):
    """Runs `kerasimb run <command> ARGS` in this process; returns its exit status."""
    from kerasimb.cli.main import main

    return main(["run", command, *args])


def killed(command, args, kill_after, sig="SIGKILL"):
    proc = run(command, args, kill_after=kill_after, sig=sig)
    assert proc.returncode == -getattr(signal, sig), proc.stderr[-3000:]
    return proc


def batches(count_file):
    with open(count_file) as f:
        return json.load(f)["batches"]


def load_json(path):
    with open(path) as f:
        return json.load(f)


def without_seconds(runs):
    """Run records without their wall times (which differ between processes)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs]


def assert_no_temporary_files(folder):
    assert not [p for p in folder.rglob(".*.tmp-*")], "a temporary file was left behind"


# --- recipes/perturbed_inference.py: train each baseline once, score it with and without ------


def _perturbed_args(dataset, output):
    return ["--dataset", dataset, "--backbones", "small_cnn", "--baselines", "ce", "reweight",
            "--epochs", "2", "--batch-size", "8", "--learning-rate", "0.01", "--seeds", "0",
            "--output", str(output)]


def test_perturbed_inference_killed_then_resumed(tiny_npz, tmp_path, monkeypatch):
    out = tmp_path / "out"
    args = _perturbed_args(tiny_npz, out)
    # 6 batches a baseline; the 10th is the 2nd epoch's first batch of `reweight`.
    killed("perturbed_inference", args, kill_after=10)
    assert (out / "runs" / "small_cnn_ce" / "seed0.json").exists()
    assert not (out / "runs" / "small_cnn_reweight").exists()
    proc = run("perturbed_inference", args, count=tmp_path / "count.json")
    assert "small_cnn ce seed0: loaded" in proc.stdout
    assert batches(tmp_path / "count.json") == 3  # reweight's 2nd epoch only
    runs = load_json(out / "metrics.json")["runs"]
    assert [(r["baseline"], r["split"]) for r in runs] == [("ce", "seed0"), ("reweight", "seed0")]
    assert "| small_cnn | reweight |" in (out / "report.md").read_text()
    assert not any((out / "backup").rglob("*.h5"))
    assert_no_temporary_files(out)

    # In this process: a third run trains nothing; --restart trains again.
    from kerasimb import methods

    def fail(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(methods.Method, "train", fail)
    assert run_in_process("perturbed_inference", args) == 0
    assert without_seconds(load_json(out / "metrics.json")["runs"]) == without_seconds(runs)
    with pytest.raises(AssertionError, match="trained again"):
        run_in_process("perturbed_inference", [*args, "--restart"])
    assert not (out / "runs" / "small_cnn_ce").exists()


def test_perturbed_inference_settings_change_is_an_error(tiny_npz, tmp_path, capsys):
    from kerasimb.runs import RunStore

    RunStore(tmp_path).start("small_cnn/ce", 0, {"epochs": 99})
    assert run_in_process("perturbed_inference", _perturbed_args(tiny_npz, tmp_path)) == 2
    err = capsys.readouterr().err
    assert "--restart" in err and "epochs: 99 in the folder, 2 now" in err


@pytest.mark.slow
@pytest.mark.parametrize("kill_after,sig", [(4, "SIGKILL"), (8, "SIGTERM"), (11, "SIGINT")])
def test_perturbed_inference_resumed_equals_uninterrupted(tiny_npz, tmp_path, kill_after, sig):
    run("perturbed_inference", _perturbed_args(tiny_npz, tmp_path / "a"))
    args = _perturbed_args(tiny_npz, tmp_path / "b")
    proc = run("perturbed_inference", args, kill_after=kill_after, sig=sig)
    assert proc.returncode != 0
    run("perturbed_inference", args)
    a = load_json(tmp_path / "a" / "metrics.json")["runs"]
    b = load_json(tmp_path / "b" / "metrics.json")["runs"]
    assert without_seconds(a) == without_seconds(b)
    for unit in ("small_cnn_ce", "small_cnn_reweight"):
        with np.load(tmp_path / "a" / "runs" / unit / "seed0.npz") as pa, \
                np.load(tmp_path / "b" / "runs" / unit / "seed0.npz") as pb:
            np.testing.assert_array_equal(pa["probabilities"], pb["probabilities"])


# --- recipes/metric_learning.py: two-stage runs through compare(output_dir=) ------------------


def _metric_args(dataset, output, *extra):
    return ["--dataset", dataset, "--losses", "ce", "--no-ablation", "--epochs", "2",
            "--stage2-epochs", "1", "--lr-warmup-epochs", "0", "--batch-size", "8",
            "--learning-rate", "0.01", "--seeds", "0", "--no-progress", "--output",
            str(output), *extra]


def test_metric_learning_killed_then_resumed(tiny_npz, tmp_path):
    out = tmp_path / "out"
    args = _metric_args(tiny_npz, out)
    # Per method: stage 1, 2 epochs of 3 batches, then stage 2, 1 epoch of 3 batches. The 14th
    # batch is the 2nd of ce-crs's stage 1, epoch 2 (ce-crw is finished).
    killed("metric_learning", args, kill_after=14)
    assert (out / "compare" / "runs" / "ce-crw" / "seed0.json").exists()
    proc = run("metric_learning", args, count=tmp_path / "count.json")
    assert batches(tmp_path / "count.json") == 3 + 3, proc.stdout  # 2nd epoch + stage 2
    report = (out / "report.md").read_text()
    assert "CE → cRS" in report and "features not recorded" not in report
    assert (out / "features_ce.png").exists()  # from the features kept with ce-crw's run
    with np.load(out / "compare" / "runs" / "ce-crw" / "seed0.npz") as stored:
        assert stored["extra/callback0/features"].shape[0] == 15  # the test images
    assert_no_temporary_files(out)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [4, 8])  # mid stage 1 of ce-crw; mid its stage 2
def test_metric_learning_resumed_equals_uninterrupted(tiny_npz, tmp_path, kill_after):
    run("metric_learning", _metric_args(tiny_npz, tmp_path / "a"))
    args = _metric_args(tiny_npz, tmp_path / "b")
    killed("metric_learning", args, kill_after=kill_after)
    run("metric_learning", args)
    a = load_json(tmp_path / "a" / "compare" / "metrics.json")["runs"]
    b = load_json(tmp_path / "b" / "compare" / "metrics.json")["runs"]
    assert without_seconds(a) == without_seconds(b)  # reports and both stages' histories
    for method in ("ce-crw", "ce-crs"):
        with np.load(tmp_path / "a" / "compare" / "runs" / method / "seed0.npz") as pa, \
                np.load(tmp_path / "b" / "compare" / "runs" / method / "seed0.npz") as pb:
            for key in pa.files:
                np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


# --- recipes/quadsnet.py and recipes/balanced_mixup.py: compare(output_dir=) per model --------


def _quadsnet_args(dataset, output):
    return ["--dataset", dataset, "--image-size", "16", "--models", "quadsnet", "quadsnet-ce",
            "--filters", "2", "2", "2", "2", "--epochs", "2", "--batch-size", "8",
            "--learning-rate", "0.01", "--seeds", "0", "--no-progress", "--output", str(output)]


def test_quadsnet_killed_then_resumed(tiny_npz, tmp_path):
    out = tmp_path / "out"
    args = _quadsnet_args(tiny_npz, out)
    killed("quadsnet", args, kill_after=10)  # quadsnet-ce's 2nd epoch, 1st batch
    assert (out / "models" / "quadsnet" / "runs" / "quadsnet-margin" / "seed0.json").exists()
    run("quadsnet", args, count=tmp_path / "count.json")
    assert batches(tmp_path / "count.json") == 3
    metrics = load_json(out / "metrics.json")
    assert [r["method"] for r in metrics["runs"]] == ["QuadSNet + weighted margin loss",
                                                      "QuadSNet + cross-entropy"]
    assert "Table III" in (out / "report.md").read_text()
    assert_no_temporary_files(out)


@pytest.mark.slow
def test_quadsnet_resumed_equals_uninterrupted(tiny_npz, tmp_path):
    run("quadsnet", _quadsnet_args(tiny_npz, tmp_path / "a"))
    args = _quadsnet_args(tiny_npz, tmp_path / "b")
    killed("quadsnet", args, kill_after=5, sig="SIGTERM")
    run("quadsnet", args)
    a, b = (load_json(tmp_path / x / "metrics.json")["runs"] for x in "ab")
    assert without_seconds(a) == without_seconds(b)


def _mixup_args(dataset, output):
    return ["--dataset", dataset, "--backbones", "small_cnn", "--no-loss-rows", "--alphas",
            "0.1", "--epochs", "2", "--batch-size", "8", "--learning-rate", "0.01", "--seeds",
            "0", "--no-progress", "--output", str(output)]


@pytest.mark.slow  # ~25 s of CPU (its sampler figures); compare's own kill test is fast
def test_balanced_mixup_killed_then_resumed(tiny_npz, tmp_path):
    out = tmp_path / "out"
    args = _mixup_args(tiny_npz, out)
    # ce, class-sampling, sqrt-sampling, balanced-mixup: 6 batches each; the 17th is the 2nd
    # batch of sqrt-sampling's 2nd epoch.
    killed("balanced_mixup", args, kill_after=17)
    run("balanced_mixup", args, count=tmp_path / "count.json")
    assert batches(tmp_path / "count.json") == 3 + 6
    metrics = load_json(out / "small_cnn" / "metrics.json")
    assert len(metrics["runs"]) == 4 and metrics["settings"]["select_by"] is not None
    assert (out / "report.md").exists()
    assert_no_temporary_files(out)


@pytest.mark.slow
def test_balanced_mixup_resumed_equals_uninterrupted(tiny_npz, tmp_path):
    """With model selection (`--select-by main`): the best epoch before the kill is kept."""
    run("balanced_mixup", _mixup_args(tiny_npz, tmp_path / "a"))
    args = _mixup_args(tiny_npz, tmp_path / "b")
    killed("balanced_mixup", args, kill_after=22)  # balanced-mixup's 2nd epoch
    run("balanced_mixup", args)
    a, b = (load_json(tmp_path / x / "small_cnn" / "metrics.json")["runs"] for x in "ab")
    assert without_seconds(a) == without_seconds(b)


# --- kerasimb tune: Keras Tuner's search state --------------------------------------------------


def _tune_args(dataset, output):
    return ["tune", "--dataset", dataset, "--methods", "ce", "reweight", "--max-trials", "3",
            "--epochs", "2", "--batch-size", "8", "--widths", "4", "--seeds", "0",
            "--no-progress", "--output", str(output)]


def _trial(output, i):
    return load_json(output / "search" / "kerasimb" / f"trial_{i}" / "trial.json")


def test_tune_killed_then_resumed(tiny_npz, tmp_path):
    out = tmp_path / "out"
    args = _tune_args(tiny_npz, out)
    # 6 batches a trial (2 epochs of 3); the 8th is the 2nd batch of trial 1.
    killed("kerasimb", args, kill_after=8)
    first = _trial(out, 0)
    assert first["status"] == "COMPLETED"
    interrupted = _trial(out, 1)["hyperparameters"]["values"]
    proc = run("kerasimb", args, count=tmp_path / "count.json")
    assert "Reloading Tuner" in proc.stdout + proc.stderr
    # Trial 0 is not trained again: trial 1 (from its first epoch), trial 2, then the best
    # configuration retrained once for the test split.
    assert batches(tmp_path / "count.json") == 6 + 6 + 6
    assert _trial(out, 0) == first  # its results intact
    assert _trial(out, 1)["hyperparameters"]["values"] == interrupted
    rows = {r["trial_id"]: r for r in load_json(out / "tuning.json")["leaderboard"]}
    assert sorted(rows) == ["0", "1", "2"]
    assert rows["0"]["score"] == first["score"] and rows["0"]["status"] == "COMPLETED"
    assert (out / "report.md").exists()
    assert_no_temporary_files(out)


@pytest.mark.slow
def test_tune_sigterm_in_a_later_trial(tiny_npz, tmp_path):
    """SIGTERM in trial 2: trials 0 and 1 stay as they were, trial 2 reruns with its values.

    (The final leaderboard is not compared with a separate uninterrupted search: two searches
    started in separate processes with the same seed draw different hyperparameters, already
    for trial 0, which is Keras Tuner's sampling, not the resume.)
    """
    out = tmp_path / "out"
    args = _tune_args(tiny_npz, out)
    killed("kerasimb", args, kill_after=14, sig="SIGTERM")  # trial 2's 2nd batch
    before = [_trial(out, i) for i in (0, 1)]
    interrupted = _trial(out, 2)["hyperparameters"]["values"]
    run("kerasimb", args, count=tmp_path / "count.json")
    assert batches(tmp_path / "count.json") == 6 + 6  # trial 2, then the best retrained
    assert [_trial(out, i) for i in (0, 1)] == before
    assert _trial(out, 2)["hyperparameters"]["values"] == interrupted
    assert _trial(out, 2)["status"] == "COMPLETED"


# --- recipes/aduni.py: compare(output_dir=) with its encoder-feature snapshots -----------------


def _aduni_args(dataset, output):
    return ["--dataset", dataset, "--rows", "ce", "aduni", "--no-ablation", "--samplers", "none",
            "--feature-samples", "15", "--embedding", "pca", "--epochs", "2", "--batch-size",
            "8", "--learning-rate", "0.01", "--seeds", "0", "--no-progress", "--output",
            str(output)]


@pytest.mark.slow
def test_aduni_resumed_equals_uninterrupted(tiny_npz, tmp_path):
    run("aduni", _aduni_args(tiny_npz, tmp_path / "a"))
    args = _aduni_args(tiny_npz, tmp_path / "b")
    killed("aduni", args, kill_after=10)  # the AdUni row's 2nd epoch (ce is finished)
    run("aduni", args, count=tmp_path / "count.json")
    assert batches(tmp_path / "count.json") == 3
    a, b = (load_json(tmp_path / x / "compare" / "metrics.json")["runs"] for x in "ab")
    assert without_seconds(a) == without_seconds(b)
    assert (tmp_path / "b" / "features_1.png").exists()  # features kept with the AdUni run
