"""`kerasimb compare --folds K [--fold-as-test] [--test-dataset NAME]` and
`runs.compare_kwargs` passing them through."""

import argparse
import json

import numpy as np
import pytest

from kerasimb.cli.args import Parser, add_folds_arguments
from kerasimb.cli.main import main
from kerasimb.runs import compare_kwargs

RUN_FLAGS = dict(backbone="small_cnn", epochs=1, seeds=[0], batch_size=8, learning_rate=1e-3,
                 verbose=0, no_progress=True, restart=False, mixed_precision="float32",
                 distribute="none", jit_compile="off", weights=None, tensorboard=None,
                 augment="none")


def test_add_folds_arguments_parses_the_three_flags():
    parser = add_folds_arguments(Parser(prog="x"))
    args = parser.parse_args(["--folds", "5", "--fold-as-test", "--test-dataset", "digits-lt"])
    assert (args.folds, args.fold_as_test, args.test_dataset) == (5, True, "digits-lt")
    args = parser.parse_args([])
    assert (args.folds, args.fold_as_test, args.test_dataset) == (None, False, None)


def test_compare_kwargs_passes_folds_through():
    marker = object()
    kwargs = compare_kwargs(argparse.Namespace(**RUN_FLAGS, folds=4, fold_as_test=True,
                                               test_dataset=marker))
    assert (kwargs["folds"], kwargs["fold_as_test"], kwargs["test_dataset"]) == (4, True, marker)
    kwargs = compare_kwargs(argparse.Namespace(**RUN_FLAGS))  # a namespace without them
    assert (kwargs["folds"], kwargs["fold_as_test"], kwargs["test_dataset"]) == (None, False, None)
    kwargs = compare_kwargs(argparse.Namespace(**RUN_FLAGS, folds=0))  # a recipe's "no folds"
    assert kwargs["folds"] is None


@pytest.mark.parametrize("flags, message", [
    (["--folds", "1"], "kerasimb: error: argument --folds: expected an integer >= 2, received 1"),
    (["--fold-as-test"], "kerasimb: error: argument --fold-as-test: needs --folds K"),
    (["--folds", "2", "--fold-as-test"], "kerasimb: error: argument --folds: expected at least "
                                         "3 with --fold-as-test"),
    (["--folds", "3", "--seeds", "0", "1"], "kerasimb: error: argument --seeds: expected a "
                                            "single seed with --folds"),
])
def test_bad_fold_flags_are_one_line_before_loading(flags, message, capsys, tmp_path):
    assert main(["compare", "--methods", "ce", "--output", str(tmp_path / "out"), *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().startswith(message) and "\n" not in captured.err.strip()
    assert captured.out == "" and not (tmp_path / "out").exists()


def test_folds_take_the_first_default_seed(capsys, tmp_path):
    # --seeds left at its default (0 1 2): --folds uses seed 0 rather than refusing
    assert main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                 "--folds", "22", "--output", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" not in err and "argument `folds`" in err  # reached compare, one seed


def test_too_many_folds_names_the_smallest_class(capsys, tmp_path):
    # digits-lt: class '8' has 21 training + validation images, the fewest
    assert main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                 "--folds", "22", "--seeds", "0", "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "argument `folds`" in err
    assert "class '8': 21 images" in err and "Received: folds=22" in err
    assert not (tmp_path / "out" / "runs").exists()


def test_unknown_test_dataset_is_one_line(capsys, tmp_path):
    assert main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                 "--test-dataset", "no-such-set", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasimb: error: argument --test-dataset: could not load "
                          "'no-such-set'") and "\n" not in err


def test_compare_with_folds_and_an_external_test_set_end_to_end(tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                 "--epochs", "1", "--folds", "2", "--seeds", "3", "--batch-size", "64",
                 "--test-dataset", "digits-lt", "--output", str(output), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "mean ± std over 2 folds" in printed and "External test set digits-lt" in printed
    saved = json.loads((output / "metrics.json").read_text())
    assert [run["seed"] for run in saved["runs"]] == ["fold0", "fold1"]
    assert saved["settings"]["folds"] == 2 and saved["settings"]["fold_seed"] == 3
    values = saved["summary"]["ce"]["balanced_accuracy"]["values"]
    assert saved["median"]["ce"]["balanced_accuracy"] == pytest.approx(np.median(values))
    assert [run["external_report"]["balanced_accuracy"] for run in saved["runs"]] == \
        saved["external"]["summary"]["ce"]["balanced_accuracy"]["values"]
    report = (output / "report.md").read_text()
    assert "## External test set" in report and "over 2 folds" in report
