"""`kerasimb.cli.args`: the shared run flags, their defaults per recipe, and what they become."""

import argparse

import pytest

from kerasimb.cli import args as args_module
from kerasimb.cli.args import DEFAULTS, Parser, UsageError, add_run_arguments
from kerasimb.runs import compare_kwargs


def _parse(*argv, **defaults):
    return add_run_arguments(Parser(prog="test"), **defaults).parse_args(list(argv))


def test_runtime_flags_become_compare_arguments():
    kwargs = compare_kwargs(_parse())
    assert (kwargs["mixed_precision"], kwargs["distribute"], kwargs["jit_compile"]) == (
        "float32", "none", "auto")
    kwargs = compare_kwargs(_parse("--mixed-precision", "--distribute", "mirrored",
                                   "--jit-compile", "off"))
    assert (kwargs["mixed_precision"], kwargs["distribute"], kwargs["jit_compile"]) == (
        "auto", "mirrored", False)
    kwargs = compare_kwargs(_parse("--mixed-precision", "mixed_float16", "--jit-compile", "on"))
    assert kwargs["mixed_precision"] == "mixed_float16" and kwargs["jit_compile"] is True


def test_run_flags_become_compare_arguments():
    kwargs = compare_kwargs(_parse("--epochs", "3", "--seeds", "4", "5", "--batch-size", "8",
                                   "--learning-rate", "0.01", "--backbone", "resnet18",
                                   "--no-progress", "--restart", "--verbose", "2",
                                   "--weights", "w.h5", "--tensorboard", "tb",
                                   "--freeze-backbone", "2", "--stop-on-divergence"))
    assert kwargs == {"backbone": "resnet18", "epochs": 3, "seeds": [4, 5], "batch_size": 8,
                      "learning_rate": 0.01, "verbose": 2, "progress": False, "overwrite": True,
                      "mixed_precision": "float32", "distribute": "none", "jit_compile": "auto",
                      "weights": "w.h5", "tensorboard": "tb", "augment": None,
                      "freeze_backbone": 2, "stop_on_divergence": True, "calibrate": False,
                      "folds": None, "fold_as_test": False, "test_dataset": None,
                      "optimizer": None}
    assert compare_kwargs(_parse("--freeze-backbone"))["freeze_backbone"] is True
    parser = argparse.ArgumentParser()
    args_module.add_calibrate_argument(args_module.add_run_arguments(parser))
    assert compare_kwargs(parser.parse_args(["--calibrate"]))["calibrate"] is True
    assert compare_kwargs(_parse())["stop_on_divergence"] is False
    assert compare_kwargs(_parse())["freeze_backbone"] is None


def test_defaults_and_recipe_defaults():
    args = _parse()
    assert (args.dataset, args.backbone, args.epochs, args.seeds, args.batch_size,
            args.learning_rate) == (DEFAULTS["dataset"], DEFAULTS["backbone"], DEFAULTS["epochs"],
                                    list(DEFAULTS["seeds"]), DEFAULTS["batch_size"],
                                    DEFAULTS["learning_rate"])
    args = _parse(epochs=7, seeds=(3,), learning_rate=1e-4)
    assert (args.epochs, args.seeds, args.learning_rate) == (7, [3], 1e-4)
    with pytest.raises(TypeError, match="unknown defaults"):
        add_run_arguments(argparse.ArgumentParser(), epoch=3)


@pytest.mark.parametrize("argv, message", [
    (["--mixed-precision", "half"], "argument --mixed-precision: invalid choice: 'half'"),
    (["--epochs", "1.5"], "argument --epochs: expected an integer >= 1, received '1.5'"),
    (["--learning-rate", "inf"], "argument --learning-rate: expected a finite number > 0"),
    (["--seeds", "-2"], "argument --seeds: expected an integer >= 0, received -2"),
    (["--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (["--lr-schedule", "linear"], "argument --lr-schedule: invalid choice: 'linear'"),
    (["--momentum", "1"], "argument --momentum: expected a number in [0, 1), received '1'"),
    (["--weight-decay", "-1"], "argument --weight-decay: expected a finite number >= 0"),
    (["--lr-floor", "x"], "argument --lr-floor: expected a number >= 0, received 'x'"),
    (["--lr-warmup-epochs", "-1"], "argument --lr-warmup-epochs: expected an integer >= 0"),
])
def test_bad_flags_are_usage_errors(argv, message):
    with pytest.raises(UsageError) as info:
        _parse(*argv)
    assert str(info.value) == message or message in str(info.value)


def test_optimizer_flags_become_a_training_configuration():
    kwargs = compare_kwargs(_parse("--optimizer", "sgd", "--momentum", "0.8", "--nesterov",
                                   "--weight-decay", "5e-4", "--lr-schedule", "cosine",
                                   "--lr-warmup-epochs", "2", "--lr-floor", "1e-6"))
    assert kwargs["optimizer"] == {
        "optimizer": "sgd", "momentum": 0.8, "nesterov": True, "weight_decay": 5e-4,
        "lr_schedule": "cosine", "warmup_epochs": 2, "lr_floor": 1e-6, "step_epochs": None,
        "step_factor": 0.1, "cycle_epochs": None}
    assert compare_kwargs(_parse("--optimizer", "sgd"))["optimizer"]["momentum"] == 0.9
    assert compare_kwargs(_parse("--optimizer", "adam"))["optimizer"] is None
    assert compare_kwargs(argparse.Namespace(**{  # args without the optimizer flags
        k: v for k, v in vars(_parse()).items()
        if k not in ("optimizer", "momentum", "nesterov", "weight_decay", "lr_schedule",
                     "lr_warmup_epochs", "lr_floor")}))["optimizer"] is None


@pytest.mark.parametrize("argv, message", [
    (["--momentum", "0.9"], "argument --momentum: needs --optimizer sgd"),
    (["--optimizer", "adamw", "--nesterov"], "argument --nesterov: needs --optimizer sgd"),
    (["--lr-floor", "1e-5"], "argument --lr-floor: needs --lr-schedule cosine|step|cyclic"),
    (["--lr-schedule", "cosine", "--lr-floor", "0.1", "--learning-rate", "0.01"],
     "argument --lr-floor: expected below --learning-rate 0.01, received 0.1"),
    (["--lr-warmup-epochs", "5", "--epochs", "3"],
     "argument --lr-warmup-epochs: expected at most --epochs 3, received 5"),
])
def test_inconsistent_optimizer_flags_are_usage_errors(argv, message):
    with pytest.raises(UsageError) as info:
        args_module.check_optimizer(_parse(*argv))
    assert str(info.value).startswith(message)
