"""The `kerasimb` command: parsing, one-line errors with exit status 2, help, `python -m`."""

import json
import os
import subprocess
import sys

import pytest

from kerasimb.cli import compare
from kerasimb.cli.main import build_parser, main
from kerasimb.runs import default_output


def test_compare_tiny(tmp_path, capsys):
    output = tmp_path / "run"
    code = main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "reweight", "--epochs", "1", "--seeds", "0", "--batch-size", "64",
                     "--learning-rate", "0.01", "--output", str(output), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "digits-lt: 10 classes, images (8, 8, 1)" in out  # the dataset summary
    assert "| method | balanced_accuracy |" in out
    assert "| ce |" in out and "| reweight |" in out
    assert f"to {output}" in out
    for name in ("metrics.json", "report.md", "predictions.npz", "class_distribution.png",
                 "per_class_recall.png", "confusion_ce.png", "confusion_reweight.png"):
        assert (output / name).is_file(), name
    settings = json.loads((output / "metrics.json").read_text())["settings"]
    assert settings["epochs"] == 1 and settings["seeds"] == [0]
    assert settings["batch_size"] == 64 and settings["learning_rate"] == 0.01
    assert list(settings["methods"]) == ["ce", "reweight"]


def test_default_output_folder_name():
    path = default_output("compare", "medmnist:data/x.npz")
    assert path.startswith(os.path.join("runs", "compare-medmnist_data_x.npz-"))


def test_defaults():
    args = build_parser().parse_args(["compare"])
    assert args.dataset == "digits-lt" and args.methods is None and args.backbone == "small_cnn"
    assert (args.epochs, args.seeds, args.batch_size, args.learning_rate) == (30, [0, 1, 2], 32,
                                                                            1e-3)
    assert args.output is None and not args.no_progress


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: COMMAND"),
        (["fit"], "invalid choice: 'fit'"),
        (["compare", "--epochs", "0"], "--epochs: expected an integer >= 1"),
        (["compare", "--epochs", "two"], "--epochs: expected an integer >= 1, received 'two'"),
        (["compare", "--seeds"], "--seeds: expected at least one argument"),
        (["compare", "--seeds", "-1"], "--seeds"),
        (["compare", "--seeds", "1", "1"], "--seeds: expected distinct seeds"),
        (["compare", "--learning-rate", "abc"], "--learning-rate: expected a number > 0"),
        (["compare", "--learning-rate", "0"], "--learning-rate: expected a finite number > 0"),
        (["compare", "--batch-size", "0"], "--batch-size"),
        (["compare", "--methods", "ce", "nope"], "unknown method(s) ['nope']; registered:"),
        (["compare", "--methods", "ce", "ce"], "named twice"),
        (["compare", "--backbone", "resnet34"], "--backbone: unknown model 'resnet34'"),
        (["compare", "--backbone", "mobilenetv2"], "Add --image-size 32"),
        (["compare", "--data-dir", "/tmp"], "--data-dir: does not apply to dataset 'digits-lt'"),
        (["compare", "--dataset", "nope"], "--dataset: could not load 'nope'"),
        (["compare", "--verbose", "5"], "--verbose: invalid choice"),
        (["compare", "--methods", ","], "--methods: expected at least one method name"),
        (["compare", "--batch-size", "243"], "--batch-size: expected at most the 242 training"),
        (["compare", "--distribute", "tpu"], "--distribute"),
        (["tune", "--batch-size", "100000"], "--batch-size: expected at most"),
        (["compare", "--freeze-backbone"], "--freeze-backbone: needs --weights imagenet|PATH"),
        (["compare", "--optimizer", "rmsprop"], "--optimizer: invalid choice: 'rmsprop'"),
        (["compare", "--momentum", "0.9"], "--momentum: needs --optimizer sgd"),
        (["compare", "--lr-floor", "1e-5"], "--lr-floor: needs --lr-schedule"),
        (["train", "--method", "ce", "--freeze-backbone", "3", "--weights", "w.h5",
          "--epochs", "3", "--output", "unused"], "--freeze-backbone: expected fewer frozen "
                                                   "epochs than --epochs 3"),
        (["compare", "--freeze-backbone", "0"], "--freeze-backbone: expected an integer >= 1"),
        (["tune", "--freeze-backbone"], "--freeze-backbone: needs --weights"),
        (["tune", "--stop-on-divergence"], "--stop-on-divergence: does not apply to tune"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kerasimb: error: "), err
    assert message in err, err


@pytest.mark.parametrize("recipe, argv, message", [
    ("perturbed_inference", ["--temperature", "0"], "argument --temperature: expected a number > 0"),
    ("perturbed_inference", ["--folds", "1"], "argument --folds: expected 0 or an integer >= 2"),
    ("balanced_mixup", ["--alphas", "0"], "argument --alphas: expected values > 0"),
    ("metric_learning", ["--stage2-epochs", "0"], "argument --stage2-epochs: expected >= 1"),
    ("aduni", ["--feature-samples", "0"], "argument --feature-samples: expected >= 1"),
    ("aduni", ["--paco-queue", "-1"], "argument --paco-queue: expected >= 0"),
    ("perturbed_inference", ["--stop-on-divergence"],
     "argument --stop-on-divergence: does not apply to this recipe"),
    ("balanced_mixup", ["--freeze-backbone"], "argument --freeze-backbone: needs --weights"),
    ("quadsnet", ["--filters", "0", "4"], "argument --filters: expected integers >= 1"),
    ("quadsnet", ["--epochs", "0"], "argument --epochs: expected an integer >= 1"),
])
def test_recipe_flag_mistakes_exit_2_before_training(recipe, argv, message, capsys,
                                                      monkeypatch):
    from kerasimb import methods

    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(methods.Method, "train", no_training)
    assert main(["run", recipe, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kerasimb: error: {message}") and err.count("\n") == 1, err


def test_output_that_is_a_file_or_not_writable_exits_2(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["compare", "--methods", "ce", "--output", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kerasimb: error: argument --output:") and "is a file" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("this user can write to read-only folders")
        assert main(["compare", "--methods", "ce", "--output", str(locked / "run")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_output_holding_other_settings_exits_2_naming_restart(tmp_path, capsys):
    argv = ["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
            "--epochs", "1", "--seeds", "0", "--batch-size", "64", "--no-progress",
            "--output", str(tmp_path / "run")]
    assert main(argv) == 0
    capsys.readouterr()
    argv[argv.index("--batch-size") + 1] = "32"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--restart" in err and "batch_size" in err, err


def test_ctrl_c_prints_one_line_and_exits_130(tmp_path, monkeypatch, capsys):
    from kerasimb import runs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "compare", interrupted)
    out = tmp_path / "run"
    assert main(["compare", "--methods", "ce", "--epochs", "1", "--output", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert err == f"kerasimb: interrupted; rerun the same command to resume from {out}"
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--methods", "ce", "--epochs", "1"]) == 130
    err = capsys.readouterr().err.strip()
    assert "rerun the same command with --output runs/compare-digits-lt-" in err


def test_help_exits_0(capsys):
    assert main(["compare", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--learning-rate" in out and "(default: 0.001)" in out


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "kerasimb", "list"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Methods (--methods):" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "kerasimb", "compare", "--epochs", "x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("kerasimb: error: argument --epochs")


@pytest.mark.slow
def test_default_compare_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--no-progress"]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("compare-digits-lt-")
    saved = json.loads((runs[0] / "metrics.json").read_text())
    assert saved["settings"]["epochs"] == 30 and saved["settings"]["seeds"] == [0, 1, 2]
    assert list(saved["summary"]) == list(compare.DEFAULT_METHODS)
    for method, figures in saved["summary"].items():
        # Chance is 0.1 on 10 balanced test classes; a trained model is far above it.
        assert figures["balanced_accuracy"]["mean"] > 0.5, method
    assert "| method | balanced_accuracy |" in capsys.readouterr().out


def test_run_unknown_recipe_exits_2(capsys):
    assert main(["run", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_default_methods_are_registered_and_used_by_the_bare_command():
    from kerasimb import methods

    assert len(compare.DEFAULT_METHODS) == len(set(compare.DEFAULT_METHODS)) >= 2
    for name in compare.DEFAULT_METHODS:
        assert methods.get(name).name == name
