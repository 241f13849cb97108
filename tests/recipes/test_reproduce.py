"""kerasimb.recipes.reproduce: the verdict from an interval (two-level from saved per-image
predictions, else from the seeds' values), claims read from synthetic metrics.json files and a
saved comparison, recipe runs that succeed or fail (tiny fake recipes, no training)."""

import itertools
import json
import os
import sys
import textwrap

import numpy as np
import pytest

from kerasimb.metrics import paired_bootstrap, report
from kerasimb.recipes import RECIPES, load, reproduce
from kerasimb.runs import ComparisonResult


@pytest.mark.parametrize("m, b, expected", [
    ([0.8, 0.82, 0.81], [0.7, 0.71, 0.69], "holds"),         # every seed clearly ahead
    ([0.6, 0.61, 0.62], [0.7, 0.72, 0.71], "reversed"),      # every seed clearly behind
    ([0.72, 0.70], [0.71, 0.70], "not shown"),               # differences 0.01 and 0
    ([0.7, 0.7], [0.7, 0.7], "not shown"),                   # tie
    ([0.9], [0.5], "not shown"),                             # one seed: no interval
    ([0.5], [0.9, 0.8], "not shown"),                        # one value on a side
    ([0.75, 0.95, 0.70], [0.70, 0.72, 0.74], "not shown"),   # one seed behind of three
])
def test_seeds_only_verdict(m, b, expected):
    assert reproduce.verdict(m, b) == expected


def test_seed_interval_is_the_bootstrap_of_the_mean_paired_difference():
    d = np.array([-0.02, 0.03, 0.10])
    base = np.array([0.5, 0.6, 0.7])
    out = reproduce.seed_interval(base + d, base)
    assert out["paired"] and out["num_seeds"] == 3 and out["reliable"]
    assert out["difference"] == pytest.approx(d.mean())
    # the exact bootstrap distribution of the mean of 3 pairs drawn with replacement: 27
    # equally likely draws; its 2.5 % and 97.5 % points bound the interval (2,000 draws)
    means = sorted(np.mean(t) for t in itertools.product(d, repeat=3))
    eps = 1e-12
    assert means[0] - eps <= out["low"] <= means[1] + eps
    assert means[-2] - eps <= out["high"] <= means[-1] + eps
    assert out["low"] < 0 < out["high"] and out["verdict"] == "not shown"
    assert reproduce.seed_interval(base + d, base) == out  # the same draws every time
    unpaired = reproduce.seed_interval([0.8, 0.9], [0.1, 0.2, 0.15])
    assert not unpaired["paired"] and unpaired["difference"] == pytest.approx(0.7)
    assert unpaired["num_seeds"] == 2 and not unpaired["reliable"]
    assert 0.6 <= unpaired["low"] <= unpaired["high"] <= 0.8


def test_seed_interval_edge_cases():
    assert reproduce.verdict([], [0.5]) == "not run"
    assert reproduce.verdict([float("nan"), 0.8, 0.9], [0.1, 0.2]) == "holds"  # NaN left out
    paired = reproduce.seed_interval([float("nan"), 0.8, 0.9], [0.1, 0.2, 0.3])
    assert paired["num_seeds"] == 2 and paired["verdict"] == "holds"  # the NaN's pair left out
    assert reproduce.seed_interval([np.float32(0.9), 0.8], [0.1, None])["num_seeds"] == 1
    with pytest.raises(ValueError, match="`paired`.*2 and 3 values"):
        reproduce.seed_interval([0.1, 0.2], [0.1, 0.2, 0.3], paired=True)
    with pytest.raises(ValueError, match="`draws`"):
        reproduce.seed_interval([0.1, 0.2], [0.1, 0.2], draws=10)
    assert reproduce.combine(["holds", "holds"]) == "holds"
    assert reproduce.combine(["reversed"] * 2) == "reversed"
    assert reproduce.combine(["holds", "reversed"]) == "not shown"
    assert reproduce.combine(["holds", "not shown"]) == "not shown"
    assert reproduce.combine(["holds", "not run"]) == "not run"
    assert reproduce.combine([]) == "not run"


def _compare_json(path, values):
    """A metrics.json in `runs.compare`'s format: {method: {metric: [per-seed values]}}."""
    runs = [{"method": method, "seed": seed, "report": {metric: vals[seed]
                                                        for metric, vals in metrics.items()}}
            for method, metrics in values.items()
            for seed in range(len(next(iter(metrics.values()))))]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"summary": {}, "runs": runs}, f)


CLAIM = {"recipe": "paper_a", "paper": "A et al.", "claim": "new beats old on mcc and kappa",
         "method": "new", "baseline": "old", "metrics": ["mcc", "quadratic_kappa"],
         "paper_figures": "0.9 mcc"}


def test_check_claim_without_predictions_judges_from_the_seeds(tmp_path):
    _compare_json(str(tmp_path / "paper_a" / "small_cnn" / "metrics.json"), {
        "old": {"mcc": [0.50, 0.52, 0.51], "quadratic_kappa": [0.60, 0.61, 0.62]},
        "new": {"mcc": [0.70, 0.71, 0.69], "quadratic_kappa": [0.61, 0.59, 0.60]},
    })
    result = reproduce.check_claim(CLAIM, str(tmp_path / "paper_a"))
    mcc, kappa = result["per_metric"]["mcc"], result["per_metric"]["quadratic_kappa"]
    assert mcc["verdict"] == "holds" and mcc["level"] == "seeds only"
    assert mcc["note"] == "no predictions.npz beside metrics.json"
    assert mcc["difference"] == pytest.approx(0.19)
    assert 0.18 - 1e-9 <= mcc["low"] <= mcc["high"] <= 0.2 + 1e-9
    assert kappa["verdict"] == "not shown"  # +0.01, -0.02, -0.02 paired by seed
    assert kappa["low"] < 0 < kappa["high"]
    assert result["verdict"] == "not shown"
    mean, std, n = mcc["method"]
    assert mean == pytest.approx(0.70) and std == pytest.approx(0.01) and n == 3
    assert result["source"].endswith("metrics.json")


def test_check_claim_custom_fields_are_judged_from_the_seeds(tmp_path):
    runs = [{"method": "ce", "seed": s, "with": {"mcr": 0.8 + s / 100}, "without": {"mcr": 0.6}}
            for s in range(3)]
    os.makedirs(tmp_path / "p")
    (tmp_path / "p" / "metrics.json").write_text(json.dumps({"runs": runs}))
    np.savez(tmp_path / "p" / "predictions.npz", y_true=np.zeros(3))  # not for these fields
    claim = {**CLAIM, "recipe": "p", "metrics": ["mcr"],
             "method": {"where": {"method": "ce"}, "field": "with"},
             "baseline": {"where": {"method": "ce"}, "field": "without"}}
    result = reproduce.check_claim(claim, str(tmp_path / "p"))
    mcr = result["per_metric"]["mcr"]
    assert result["verdict"] == "holds" and mcr["level"] == "seeds only" and mcr["paired"]
    assert "the recipe's own fields ['with', 'without']" in mcr["note"]
    text = reproduce.report_markdown([result])
    assert "holds (seeds only) |" in text
    assert "- `mcr`: verdict from the seeds only (3 pairs; the figures come from" in text


def _saved_comparison(folder, gain, seeds=(0, 1, 2), labels=("old", "new model + loss")):
    """A comparison saved by `ComparisonResult.save` (metrics.json beside predictions.npz), on
    300 made-up test images; the second method is right on `gain` more of them."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [150, 100, 50])
    names = ["a", "b", "c"]
    probabilities, runs = {}, []
    for label, accuracy in zip(labels, (0.6, 0.6 + gain)):
        for s in seeds:
            right = rng.random(len(y)) < accuracy
            predicted = np.where(right, y, (y + 1) % 3)
            p = np.full((len(y), 3), 0.1)
            p[np.arange(len(y)), predicted] = 0.8
            probabilities[label, s] = p
            runs.append({"method": label, "seed": s, "report": report(y, p, class_names=names)})
    dataset = {"name": "toy", "num_classes": 3, "class_names": names, "class_counts": [60, 20, 5],
               "val_counts": [1, 1, 1], "test_counts": [150, 100, 50], "image_shape": [8, 8, 1],
               "train_size": 85, "val_size": 3, "test_size": 300, "imbalance_ratio": 12.0,
               "summary": "toy"}
    settings = {"backbone": "small_cnn", "epochs": 1, "batch_size": 8, "optimizer": "Adam",
                "learning_rate": 0.01, "seeds": list(seeds), "evaluated_on": "test",
                "methods": {m: {"description": m, "params": {}} for m in labels}}
    ComparisonResult(dataset, settings, runs, y, probabilities).save(folder)
    return y, probabilities


def test_check_claim_with_saved_predictions_uses_seeds_and_test_images(tmp_path):
    y, probabilities = _saved_comparison(tmp_path / "p" / "small_cnn", gain=0.15)
    claim = {**CLAIM, "recipe": "p", "method": "new model + loss", "baseline": "old",
             "metrics": ["balanced_accuracy", "macro_f1"]}
    result = reproduce.check_claim(claim, str(tmp_path / "p"))
    assert result["verdict"] == "holds"
    for metric, pm in result["per_metric"].items():
        assert pm["level"] == "seeds and test images" and pm["note"] == ""
        expected = paired_bootstrap(y, [probabilities["new model + loss", s] for s in range(3)],
                                    [probabilities["old", s] for s in range(3)], metric=metric)
        assert (pm["difference"], pm["low"], pm["high"]) == pytest.approx(
            (expected["difference"], expected["low"], expected["high"]), abs=1e-6)  # float32
        assert pm["num_seeds"] == 3 and pm["reliable"] is True and pm["verdict"] == "holds"
    text = reproduce.report_markdown([result])
    row = next(line for line in text.splitlines() if line.startswith("| A et al. |"))
    assert row.endswith("| holds |") and " [+0." in row  # no "seeds only", no "unreliable"
    # a metric that is not a report figure, or a claim the predictions cannot serve: seeds only
    other = reproduce.check_claim({**claim, "metrics": ["recall_least_frequent"]},
                                  str(tmp_path / "p"))
    assert other["per_metric"]["recall_least_frequent"]["level"] == "seeds only"
    assert "not a `metrics.report` figure" in other["per_metric"]["recall_least_frequent"]["note"]


def test_single_seed_with_predictions_has_an_unreliable_interval(tmp_path):
    _saved_comparison(tmp_path / "p", gain=0.0, seeds=(0,))
    claim = {**CLAIM, "recipe": "p", "method": "new model + loss", "baseline": "old",
             "metrics": ["balanced_accuracy"]}
    result = reproduce.check_claim(claim, str(tmp_path / "p"))
    pm = result["per_metric"]["balanced_accuracy"]
    assert pm["level"] == "seeds and test images" and pm["num_seeds"] == 1
    assert pm["low"] < pm["high"] and pm["reliable"] is False  # the images still vary
    assert "(1 seed: unreliable) |" in reproduce.report_markdown([result])


def test_check_claim_not_run_reasons(tmp_path):
    result = reproduce.check_claim(CLAIM, str(tmp_path / "nothing"))
    assert result["verdict"] == "not run" and "no metrics.json" in result["reason"]
    _compare_json(str(tmp_path / "paper_a" / "metrics.json"),
                  {"other": {"mcc": [0.5, 0.5], "quadratic_kappa": [0.5, 0.5]}})
    result = reproduce.check_claim(CLAIM, str(tmp_path / "paper_a"))
    assert result["verdict"] == "not run" and "methods found: ['other']" in result["reason"]


def _script(path, body):
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_run_recipes_and_report_with_a_failing_recipe(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    good = _script(scripts / "paper_a.py", """
        import argparse, json, os
        p = argparse.ArgumentParser()
        p.add_argument("--epochs", type=int); p.add_argument("--seeds", type=int, nargs="+")
        p.add_argument("--output")
        a = p.parse_args()
        runs = [{"method": m, "seed": s, "report": {"mcc": v + s / 100, "quadratic_kappa": v}}
                for s in a.seeds for m, v in (("old", 0.5), ("new", 0.7 + a.epochs / 100))]
        os.makedirs(a.output, exist_ok=True)
        json.dump({"runs": runs}, open(os.path.join(a.output, "metrics.json"), "w"))
        """)
    bad = _script(scripts / "paper_b.py", "raise SystemExit('boom: no such method')\n")
    out = tmp_path / "out"
    commands = {"paper_a": [sys.executable, good, "--epochs", "15", "--seeds", "0", "1",
                            "--output", str(out / "paper_a")],
                "paper_b": [sys.executable, bad]}
    statuses = reproduce.run_recipes(commands, str(out), echo=lambda s: None)
    assert statuses["paper_a"]["status"] == "ok"
    assert statuses["paper_a"]["log"] == os.path.join("paper_a", "log.txt")
    assert statuses["paper_b"]["status"] == "failed" and "boom" in statuses["paper_b"]["error"]
    claims = [CLAIM, {**CLAIM, "recipe": "paper_b"}]
    results = reproduce.evaluate_claims(str(out), statuses, claims)
    assert [r["verdict"] for r in results] == ["holds", "not run"]
    assert results[0]["per_metric"]["mcc"]["level"] == "seeds only"  # no predictions.npz
    assert results[0]["source"] == os.path.join("paper_a", "metrics.json")  # no local paths
    assert "boom" in results[1]["reason"]
    text = reproduce.report_markdown(results, statuses, {"dataset": "digits-lt"})
    assert "| A et al. | new beats old on mcc and kappa | mcc |" in text
    assert "| difference [95% interval] | verdict |" in text
    assert "holds (seeds only; 2 seeds: unreliable) |" in text
    assert "**holds** if the interval lies above 0, **reversed** if below 0" in text
    assert "**not run** (recipe failed: exit status 1: boom: no such method)" in text
    assert "0.9 mcc" in text and str(out) not in text
    assert statuses["paper_a"]["command"][-2:] == ["--output", "paper_a"]


def test_recipe_command_uses_the_recipes_own_budget_flags():
    argv = reproduce.recipe_command("balanced_mixup", "digits-lt", "small", "/o",
                                    data_dir="/d", extra=["--tf-logs"])
    assert argv[:3] == [sys.executable, "-m", "kerasimb.recipes.balanced_mixup"]
    budget = load("balanced_mixup").BUDGETS["small"]
    assert argv[argv.index("--no-progress") + 1:][:len(budget)] == budget
    assert argv[-3:] == ["--data-dir", "/d", "--tf-logs"]
    with pytest.raises(ValueError, match="`budget`"):
        reproduce.recipe_command("balanced_mixup", "digits-lt", "huge", "/o")
    with pytest.raises(ValueError, match="recipe"):
        reproduce.recipe_command("tune", "digits-lt", "small", "/o")


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_declares_budgets_and_well_formed_claims(name):
    from kerasimb.cli.run import recipe_parser

    recipe = load(name)
    assert set(recipe.BUDGETS) == set(reproduce.BUDGETS)
    parser = recipe_parser(name, recipe)
    for flags in recipe.BUDGETS.values():  # every budget's flags parse and pass the checks
        args = parser.parse_args(flags)
        recipe.check_arguments(args)
        assert args.epochs >= 1 and args.seeds
    keys = {"paper", "claim", "method", "baseline", "metrics", "paper_figures"}
    for claim in recipe.CLAIMS:
        assert set(claim) == keys and claim["metrics"]
    assert all(c["recipe"] == name for c in reproduce.claims([name]))


def test_reproduce_rejects_bad_arguments_before_running(tmp_path):
    with pytest.raises(ValueError, match="`recipes`"):
        reproduce.reproduce(output=str(tmp_path), recipes=["tune"])
    with pytest.raises(ValueError, match="`timeout`"):
        reproduce.reproduce(output=str(tmp_path), timeout=0)
    assert not os.listdir(tmp_path)


def test_protocol_table_is_read_from_the_recipe_report_and_shown_per_paper(tmp_path):
    from kerasimb.recipes.reproduce import evaluate_claims, protocol_table, report_markdown

    folder = tmp_path / "quadsnet"
    folder.mkdir()
    (folder / "report.md").write_text(
        "# QuadSNet\n\nSettings.\n\n## Protocol\n\nThe paper's protocol.\n\n"
        "| | paper | this run |\n|---|---|---|\n| epochs ≠ | 100 | 10 |\n"
        "| batch size | 32 | 32 |\n\n## The paper's tables\n\n| a | b |\n", encoding="utf-8")
    rows = protocol_table(str(folder / "report.md"))
    assert rows == ["| | paper | this run |", "|---|---|---|", "| epochs ≠ | 100 | 10 |",
                    "| batch size | 32 | 32 |"]
    assert protocol_table(str(tmp_path / "missing.md")) == []
    claim = {**load("quadsnet").CLAIMS[0], "recipe": "quadsnet"}
    results = evaluate_claims(str(tmp_path), {"quadsnet": {"status": "ok", "error": None}},
                              [claim])
    assert results[0]["protocol"] == rows
    text = report_markdown(results)
    assert "- protocol: the paper's beside this run's (departures: epochs)" in text
    assert "| epochs ≠ | 100 | 10 |" in text
