"""kerasimb.recipes.reproduce: the verdict rule, claims read from synthetic metrics.json files,
recipe runs that succeed or fail (tiny fake recipes, no training)."""

import json
import math
import os
import sys
import textwrap

import pytest

from kerasimb.recipes import RECIPES, load, reproduce


def _rule(m, b):
    """The documented rule, re-derived by hand (statistics module, not numpy)."""
    import statistics

    d = statistics.mean(m) - statistics.mean(b)
    if d <= 0:
        return "not reproduced"
    if len(m) < 2 or len(b) < 2:
        return "mixed"
    spread = math.sqrt(statistics.stdev(m) ** 2 + statistics.stdev(b) ** 2)
    return "reproduced" if d > spread else "mixed"


@pytest.mark.parametrize("m, b", [
    ([0.8, 0.82, 0.81], [0.7, 0.71, 0.69]),   # clearly ahead
    ([0.72, 0.70], [0.71, 0.70]),             # ahead within the spread
    ([0.6, 0.61], [0.7, 0.72]),               # behind
    ([0.7, 0.7], [0.7, 0.7]),                 # tie: not ahead
    ([0.9], [0.5]),                           # one seed: no spread to judge
    ([0.5], [0.9, 0.8]),
    ([0.75, 0.95], [0.70, 0.72]),             # d = 0.14, spread = 0.1415...: mixed
])
def test_verdict_matches_the_documented_rule(m, b):
    assert reproduce.verdict(m, b) == _rule(m, b)


def test_verdict_edge_cases():
    assert reproduce.verdict([], [0.5]) == "not run"
    assert reproduce.verdict([float("nan"), 0.8, 0.9], [0.1, 0.2]) == "reproduced"  # NaN left out
    assert reproduce.combine(["reproduced", "reproduced"]) == "reproduced"
    assert reproduce.combine(["not reproduced"] * 2) == "not reproduced"
    assert reproduce.combine(["reproduced", "not reproduced"]) == "mixed"
    assert reproduce.combine(["reproduced", "not run"]) == "not run"
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


def test_check_claim_reads_the_compare_format(tmp_path):
    _compare_json(str(tmp_path / "paper_a" / "small_cnn" / "metrics.json"), {
        "old": {"mcc": [0.50, 0.52, 0.51], "quadratic_kappa": [0.60, 0.61, 0.62]},
        "new": {"mcc": [0.70, 0.71, 0.69], "quadratic_kappa": [0.61, 0.59, 0.60]},
    })
    result = reproduce.check_claim(CLAIM, str(tmp_path / "paper_a"))
    assert result["per_metric"]["mcc"]["verdict"] == "reproduced"
    assert result["per_metric"]["quadratic_kappa"]["verdict"] == "not reproduced"
    assert result["verdict"] == "mixed"
    mean, std, n = result["per_metric"]["mcc"]["method"]
    assert mean == pytest.approx(0.70) and std == pytest.approx(0.01) and n == 3
    assert result["source"].endswith("metrics.json")


def test_check_claim_custom_fields(tmp_path):
    runs = [{"method": "ce", "seed": s, "with": {"mcr": 0.8 + s / 100}, "without": {"mcr": 0.6}}
            for s in range(2)]
    os.makedirs(tmp_path / "p")
    (tmp_path / "p" / "metrics.json").write_text(json.dumps({"runs": runs}))
    claim = {**CLAIM, "recipe": "p", "metrics": ["mcr"],
             "method": {"where": {"method": "ce"}, "field": "with"},
             "baseline": {"where": {"method": "ce"}, "field": "without"}}
    assert reproduce.check_claim(claim, str(tmp_path / "p"))["verdict"] == "reproduced"


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
    assert [r["verdict"] for r in results] == ["reproduced", "not run"]
    assert results[0]["source"] == os.path.join("paper_a", "metrics.json")  # no local paths
    assert "boom" in results[1]["reason"]
    text = reproduce.report_markdown(results, statuses, {"dataset": "digits-lt"})
    assert "| A et al. | new beats old on mcc and kappa | mcc |" in text
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
