"""Smoke test of the recipe kerasimb.recipes.perturbed_inference: tiny run end to end, tables and plots written."""

import json

import numpy as np
import pytest
from recipe_runner import load_recipe, recipe_parser, run_recipe



def _module():
    return load_recipe("perturbed_inference")


def runs_of(out):
    return json.loads((out / "metrics.json").read_text())["runs"]


def _run(argv):
    return run_recipe("perturbed_inference", argv)


def test_baselines_follow_the_registry_and_folds():
    from kerasimb import data, methods

    module = _module()
    args = recipe_parser("perturbed_inference").parse_args(["--folds", "2"])
    rows = module.baselines(args)
    assert rows[0] == ("CE", "ce")
    assert all(name in methods.names() for _, name in rows)
    assert args.backbones is None and module.PAPER_BACKBONES == ("resnet50", "mobilenetv2",
                                                                 "densenet169")
    splits = module.splits(data.load_dataset("digits-lt"), args)
    assert [label for label, _, _ in splits] == ["fold0", "fold1"]
    args = recipe_parser("perturbed_inference").parse_args(["--baselines", "ce", "--seeds", "3", "4"])
    assert module.baselines(args) == [("ce", "ce")]
    assert [s for _, _, s in module.splits(data.load_dataset("digits-lt"), args)] == [3, 4]


def test_bad_arguments_exit_2():
    assert _run(["--folds", "1"]) == 2
    assert _run(["--backbones", "nope"]) == 2
    assert _run(["--baselines", "nope"]) == 2


@pytest.mark.slow
def test_tiny_run(tmp_path):
    out = tmp_path / "run"
    code = _run(["--dataset", "digits-lt", "--image-size", "8", "--backbones", "small_cnn",
                 "--baselines", "ce", "--folds", "2", "--epochs", "1", "--batch-size", "64",
                 "--output", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "| small_cnn | ce |" in report and "MCR w/ perturbation" in report
    # The paper's Table 2 beside ours: its CE rows, our CE without / with the perturbation.
    assert "## The paper's figures beside ours" in report
    assert "Table 2 of Chen et al., MICCAI 2021, Skin7 columns, ResNet50 block" in report
    mcr = np.mean([r["without"]["mcr"] for r in runs_of(out)])
    assert (f"| CE | method=ce [without] on small_cnn | MCR | 0.8454 (84.54) | {mcr:.3f} ± "
            in report)
    assert "| CE+ours | method=ce [with] on small_cnn | SCR | 0.8436 (84.36) |" in report
    assert "could not be retrieved" not in report and "not placed beside ours" not in report
    for name in ("fig3_epsilon_small_cnn.png", "fig3_temperature_small_cnn.png", "metrics.json"):
        assert (out / name).is_file(), name
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert len(runs) == 2 and {"without", "with", "epsilon"} <= set(runs[0])
    check_fig2(out, report, runs)
    # Calibration beside recall: the report's ECE cells are the means of the runs' figures.
    assert "## Calibration without / with the perturbation" in report
    for side in ("without", "with"):
        assert 0.0 <= runs[0][side]["ece"] <= 1.0 and runs[0][side]["nll"] > 0.0
    cells = [f"{np.mean([r[side][key] for r in runs]):.3f}"
             for key in ("ece", "nll") for side in ("without", "with")]
    row = next(line for line in report.splitlines()
               if line.startswith("| small_cnn | ce |") and line.count("|") == 7
               and "±" in line and line.split("|")[3].strip().startswith(cells[0]))
    assert [c.split(" ±")[0].strip() for c in row.split("|")[3:7]] == cells


def check_fig2(out, report, runs):
    """Fig. 2's table: per-class recall, classes by training size (largest first), equal to
    scikit-learn's on the stored test predictions without and with the perturbation."""
    from sklearn.metrics import recall_score

    from kerasimb import data
    from kerasimb.runs import RunStore

    assert "![fig2_per_class_recall_small_cnn.png](fig2_per_class_recall_small_cnn.png)" in report
    assert (out / "fig2_per_class_recall_small_cnn.png").is_file()
    y_test = data.load_dataset("digits-lt").test[1]
    classes = len(runs[0]["class_counts"])
    totals = np.sum([r["class_counts"] for r in runs], axis=0)
    order = sorted(range(classes), key=lambda c: (-totals[c], c))
    store = RunStore(out)
    recalls = {"without": [], "with": []}
    for run in runs:
        with np.load(store.paths("small_cnn/ce", run["seed"])[1]) as arrays:
            stored = {"without": arrays["probabilities"],
                      "with": store.load_arrays("small_cnn/ce", run["seed"])[
                          "perturbed_probabilities"]}
        for side, probabilities in stored.items():
            recalls[side].append(recall_score(y_test, probabilities.argmax(axis=1),
                                              average=None, labels=range(classes)))
    lines = report.split("| rank | class | training examples | ce w/o | ce w/ perturbation |")[1]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in lines.strip().splitlines()[1:classes + 1]]
    assert [int(row[1]) for row in rows] == order  # digits-lt's classes are named 0..9
    for rank, c in enumerate(order):
        for column, side in ((3, "without"), (4, "with")):
            values = np.array(recalls[side])[:, c]
            assert rows[rank][column] == f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def test_optimizer_flags_train_the_models_and_name_their_runs():
    """The recipe trains outside `compare`: `--optimizer` and `--lr-schedule` reach its
    `method.train` (its fingerprint and report line), and Adam at a constant rate keeps the
    old fingerprint."""
    from kerasimb import data
    from kerasimb.recipes.flags import optimizer_text

    module = _module()
    split = data.load_dataset("digits-lt")
    # The recipe's default is its paper's SGD protocol; Adam at a constant rate with no weight
    # decay is the configuration of the runs recorded before there was one.
    plain = recipe_parser("perturbed_inference").parse_args(
        ["--optimizer", "adam", "--lr-schedule", "constant", "--lr-warmup-epochs", "0"])
    plain.momentum, plain.weight_decay = None, None
    sgd = recipe_parser("perturbed_inference").parse_args(
        ["--optimizer", "sgd", "--lr-schedule", "cosine", "--lr-floor", "1e-5",
         "--lr-warmup-epochs", "0"])
    assert "training" not in module.run_fingerprint(plain, "small_cnn", "ce", "seed0", split)
    training = module.run_fingerprint(sgd, "small_cnn", "ce", "seed0", split)["training"]
    assert (training["optimizer"], training["lr_schedule"], training["lr_floor"]) == (
        "sgd", "cosine", 1e-5)
    assert optimizer_text(sgd).startswith("SGD (learning rate")
    assert optimizer_text(plain) == f"Adam (learning rate {plain.learning_rate:g})"
