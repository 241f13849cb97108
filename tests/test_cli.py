import json
import os
import subprocess
import sys

import pytest

from kerasimb import cli, methods, models


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("Datasets (--dataset):", "Methods (--methods):", "Models (--backbone):",
                    "Recipes:"):
        assert section in out
    assert "digits-lt" in out and "medmnist:<...>" in out
    for name in methods.names():
        line = next(l for l in out.splitlines() if l.strip().startswith(name + " "))
        assert methods.get(name).description in line
    for name in models.names():
        assert f"  {name} " in out
    assert "images >= 75x75" in out  # InceptionV3's minimum
    recipes_dir = cli._recipes_dir()
    scripts = [f for f in os.listdir(recipes_dir)] if os.path.isdir(recipes_dir) else []
    if not any(f.endswith(".py") and not f.startswith("_") for f in scripts):
        assert "Recipes:\n  none yet" in out


def test_compare_tiny(tmp_path, capsys):
    output = tmp_path / "run"
    code = cli.main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
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
    path = cli.default_output("compare", "medmnist:data/x.npz")
    assert path.startswith(os.path.join("runs", "compare-medmnist_data_x.npz-"))


def test_defaults():
    args = cli.build_parser().parse_args(["compare"])
    assert args.dataset == "digits-lt" and args.methods is None and args.backbone == "small_cnn"
    assert (args.epochs, args.seeds, args.batch_size, args.learning_rate) == (30, [0, 1, 2], 32,
                                                                            1e-3)
    assert args.output is None and not args.no_progress


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: COMMAND"),
        (["train"], "invalid choice: 'train'"),
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
    ],
)
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: kerasimb" in err
    assert message in err, err


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--help"])
    assert info.value.code == 0
    assert "--learning-rate" in capsys.readouterr().out


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "kerasimb", "list"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Methods (--methods):" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "kerasimb", "compare", "--epochs", "x"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--epochs" in bad.stderr


@pytest.mark.slow
def test_default_compare_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--no-progress"]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("compare-digits-lt-")
    saved = json.loads((runs[0] / "metrics.json").read_text())
    assert saved["settings"]["epochs"] == 30 and saved["settings"]["seeds"] == [0, 1, 2]
    assert list(saved["summary"]) == list(cli.DEFAULT_METHODS)
    for method, figures in saved["summary"].items():
        # Chance is 0.1 on 10 balanced test classes; a trained model is far above it.
        assert figures["balanced_accuracy"]["mean"] > 0.5, method
    assert "| method | balanced_accuracy |" in capsys.readouterr().out


def test_run_executes_a_recipe_with_its_own_arguments(tmp_path, monkeypatch):
    recipe = tmp_path / "echo_args.py"
    recipe.write_text(
        '"""Writes its arguments to a file."""\n'
        "import sys, pathlib\n"
        "if __name__ == '__main__':\n"
        "    pathlib.Path(sys.argv[2]).write_text(' '.join(sys.argv[1:]))\n"
    )
    monkeypatch.setattr(cli, "_recipes_dir", lambda: str(tmp_path))
    out = tmp_path / "out.txt"
    assert cli.main(["run", "echo_args", "--output", str(out)]) == 0
    assert out.read_text() == f"--output {out}"


def test_run_unknown_recipe_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_recipes_dir", lambda: str(tmp_path))
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "nope"])
    assert e.value.code == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_default_methods_are_registered_and_used_by_the_bare_command():
    from kerasimb import methods

    assert len(cli.DEFAULT_METHODS) == len(set(cli.DEFAULT_METHODS)) >= 2
    for name in cli.DEFAULT_METHODS:
        assert methods.get(name).name == name
