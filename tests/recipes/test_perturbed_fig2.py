"""Perturbation recipe, Fig. 2: per-class recall without / with the perturbation, classes from
the largest training class to the smallest; the table against scikit-learn on the predictions."""

import numpy as np
import pytest
from recipe_runner import load_recipe, recipe_parser
from sklearn.metrics import recall_score

COUNTS = [30, 200, 5, 60]  # training examples: ranks 1..4 are classes 1, 3, 0, 2
NAMES = ["akiec", "nv", "df", "bcc"]


def module():
    return load_recipe("perturbed_inference")


def test_class_order_follows_the_training_counts():
    recipe = module()
    assert recipe.class_order(COUNTS) == [1, 3, 0, 2]
    assert recipe.class_order([4, 9, 4, 1]) == [1, 0, 2, 3]  # ties: lower index first
    with pytest.raises(ValueError, match="argument `class_counts`"):
        recipe.class_order([])


def fake_run(recipe, rng, y, label, split):
    """One (baseline, split) record scored by the recipe's own `scores` on random predictions."""
    probabilities = {side: rng.dirichlet(np.ones(4), size=y.size) for side in ("without", "with")}
    counts = [c + split for c in COUNTS]  # folds differ a little; the order does not
    record = {"backbone": "small_cnn", "baseline": label, "class_counts": counts,
              **{side: recipe.scores(y, p, counts) for side, p in probabilities.items()}}
    return record, probabilities


def test_table_holds_sklearn_recalls_in_training_size_order():
    recipe = module()
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [12, 30, 9, 20])
    args = recipe_parser("perturbed_inference").parse_args(["--baselines", "ce", "reweight"])
    records, predictions = [], {}
    for label in ("ce", "reweight"):
        for split in range(3):
            record, probabilities = fake_run(recipe, rng, y, label, split)
            records.append(record)
            predictions[label, split] = probabilities
    records.append({**records[0], "backbone": "other"})  # another backbone: not in this table
    by_rank = recipe.recall_by_rank(records, "small_cnn", args)
    assert by_rank["order"] == [1, 3, 0, 2]
    np.testing.assert_allclose(by_rank["counts"], [201, 61, 31, 6])  # mean over the 3 splits
    lines = recipe.recall_table(by_rank, NAMES).splitlines()
    assert lines[0] == ("| rank | class | training examples | ce w/o | ce w/ perturbation | "
                        "reweight w/o | reweight w/ perturbation |")
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[:3] for row in rows] == [["1", "nv", "201"], ["2", "bcc", "61"],
                                         ["3", "akiec", "31"], ["4", "df", "6"]]
    for column, (label, side) in enumerate(
            [(b, s) for b in ("ce", "reweight") for s in ("without", "with")], start=3):
        per_split = np.array([recall_score(y, predictions[label, split][side].argmax(axis=1),
                                           average=None, labels=range(4))
                              for split in range(3)])  # (splits, classes), class index order
        for rank, c in enumerate([1, 3, 0, 2]):
            mean, std = per_split[:, c].mean(), per_split[:, c].std(ddof=1)
            assert rows[rank][column] == f"{mean:.3f} ± {std:.3f}", (label, side, rank)
            np.testing.assert_allclose(by_rank["recall"][label][side][:, rank], per_split[:, c])


def test_plot_draws_each_baseline_without_and_with(tmp_path):
    recipe = module()
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 10)
    args = recipe_parser("perturbed_inference").parse_args(["--baselines", "ce"])
    records = [fake_run(recipe, rng, y, "ce", split)[0] for split in range(2)]
    by_rank = recipe.recall_by_rank(records, "small_cnn", args)
    figure = recipe.plot_recall_by_rank(by_rank, tmp_path / "fig2.png", "toy")
    assert (tmp_path / "fig2.png").read_bytes()[:4] == b"\x89PNG"
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4"]
    heights = [[p.get_height() for p in c] for c in ax.containers if hasattr(c, "patches")]
    for side, drawn in zip(("without", "with"), heights):
        np.testing.assert_allclose(drawn, by_rank["recall"]["ce"][side].mean(axis=0))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ce", "ce + perturbation"]
