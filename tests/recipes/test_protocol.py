"""`kerasimb.recipes.protocol`: a paper's protocol as the recipe's defaults, `--budget`, and the
report's protocol table."""

import types

import numpy as np
import pytest

from kerasimb.cli.run import parse_recipe_args
from kerasimb.recipes.protocol import Protocol

PAPER = {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
         "lr_schedule": "step", "lr_warmup_epochs": 1, "batch_size": 128, "augment": "hflip",
         "epochs": 200, "image_size": 32, "backbone": "mobilenetv2", "weights": "imagenet",
         "folds": 5}


def protocol():
    return Protocol("§3.2 of a paper", PAPER,
                    notes={"evaluation": "mean over 5 folds"},
                    budgets={"small": {"epochs": 12},
                             "paper": {"epochs": 200, "image_size": 32,
                                       "backbone": "mobilenetv2"}})


def fake_recipe():
    def add_arguments(parser):
        parser.add_argument("--own", default=1, type=int)
        return parser

    return types.SimpleNamespace(__doc__="A fake recipe.\n\nMore.", DEFAULTS={"seeds": (0,)},
                                 PROTOCOL=protocol(), add_arguments=add_arguments)


def test_defaults_are_the_papers_training_configuration_and_the_budget():
    d = protocol().defaults()
    assert d == {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9,
                 "weight_decay": 5e-4, "lr_schedule": "step", "lr_warmup_epochs": 1,
                 "batch_size": 128, "augment": "hflip", "epochs": 12}
    assert protocol().defaults("paper")["image_size"] == 32


def test_bad_protocols_are_refused():
    with pytest.raises(ValueError, match="paper.*colour"):
        Protocol("x", {"colour": "red"})
    with pytest.raises(ValueError, match="budget 'small' sets \\['batch_size'\\]"):
        Protocol("x", {}, budgets={"small": {"batch_size": 8}})


def test_small_budget_parses_to_the_paper_training_configuration():
    args = parse_recipe_args("fake", fake_recipe(), [])
    assert (args.optimizer, args.learning_rate, args.momentum, args.weight_decay,
            args.lr_schedule, args.lr_warmup_epochs, args.batch_size, args.augment,
            args.epochs, args.image_size, args.budget) == (
        "sgd", 0.01, 0.9, 5e-4, "step", 1, 128, "hflip", 12, None, "small")


def test_paper_budget_sets_epochs_image_size_and_model_and_explicit_flags_win():
    args = parse_recipe_args("fake", fake_recipe(), ["--budget", "paper"])
    assert (args.epochs, args.image_size, args.backbone) == (200, 32, "mobilenetv2")
    args = parse_recipe_args("fake", fake_recipe(), ["--budget", "paper", "--epochs", "3",
                                                     "--image-size", "40"])
    assert (args.epochs, args.image_size, args.backbone) == (3, 40, "mobilenetv2")


def test_protocol_momentum_is_dropped_when_another_optimizer_is_chosen():
    args = parse_recipe_args("fake", fake_recipe(), ["--optimizer", "adam"])
    assert args.optimizer == "adam" and args.momentum is None
    args = parse_recipe_args("fake", fake_recipe(), ["--momentum", "0.5"])
    assert args.momentum == 0.5


def test_unknown_budget_is_one_usage_line(capsys):
    from kerasimb.cli.main import main

    assert main(["run", "quadsnet", "--budget", "huge"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--budget" in err[0] and "huge" in err[0]


def test_section_marks_departures_and_agreements():
    args = parse_recipe_args("fake", fake_recipe(), [])
    lines = protocol().section(args, extra=[("test-time augmentation", "flip", "flip"),
                                            ("selection", "best κ", "best `quadratic_kappa`",
                                             True),
                                            ("stage 2", "10 epochs", "5 epochs")])
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    # Same training configuration: the optimizer row is not marked; the epochs, model, weights
    # and image size depart at the small budget.
    assert "optimizer and schedule" in rows and "batch size" in rows
    assert "augmentation" in rows and "test-time augmentation" in rows
    assert "selection" in rows and "stage 2 ≠" in rows  # told they agree / words differ
    assert "epochs ≠" in rows and "model ≠" in rows and "pretrained weights ≠" in rows
    assert "image size ≠" in rows and "evaluation ≠" in rows
    assert "| 200 | 12 |" in rows["epochs ≠"]
    assert "SGD (learning rate 0.01, momentum 0.9, weight decay 0.0005" in rows[
        "optimizer and schedule"]
    assert "mean over 5 folds" in rows["evaluation ≠"]
    paper = parse_recipe_args("fake", fake_recipe(), ["--budget", "paper",
                                                      "--weights", "imagenet"])
    rows = {line.split("|")[1].strip() for line in protocol().section(paper, "paper")
            if line.startswith("| ")}
    assert {"epochs", "image size", "model", "pretrained weights"} <= rows


def test_hflip_and_rotate30_presets():
    from kerasimb.data.augment import augment_batch, resolve_augment

    x = np.random.default_rng(0).random((16, 6, 6, 1)).astype("float32")
    out = resolve_augment("hflip")(x, np.array([3, 4]))
    out = np.asarray(out)
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)
    # never a vertical flip
    assert not any(np.array_equal(o, i[::-1]) and not np.array_equal(i, i[::-1])
                   and not np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x))
    r = resolve_augment("rotate30").kwargs
    assert (r["flip"], r["max_rotation"], r["min_crop"]) == ("horizontal", 30.0, 0.56)
    assert np.asarray(augment_batch(x, [0, 1], **r)).shape == x.shape


def test_notes_replace_the_weights_and_epochs_cells_and_unstated_epochs_say_so():
    args = parse_recipe_args("fake", fake_recipe(), [])
    unstated = {k: v for k, v in PAPER.items() if k != "epochs"}
    plain = Protocol("§4 of a paper", unstated)
    rows = {line.split("|")[1].strip(): line for line in plain.section(args)
            if line.startswith("| ")}
    assert rows["epochs ≠"].split("|")[2:4] == [" not stated ", " 12 "]
    noted = Protocol("§4 of a paper", unstated,
                     notes={"pretrained weights": "ImageNet for the baselines; none for ours",
                            "epochs": "until convergence"})
    rows = {line.split("|")[1].strip(): line for line in noted.section(args)
            if line.startswith("| ")}
    assert rows["pretrained weights ≠"].split("|")[2].strip() == (
        "ImageNet for the baselines; none for ours")
    assert rows["epochs ≠"].split("|")[2].strip() == "until convergence"
