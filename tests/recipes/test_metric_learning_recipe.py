"""Smoke test of the recipe kerasimb.recipes.metric_learning: rows, tables, and a tiny run end to end."""


import numpy as np
import pytest
from recipe_runner import load_recipe, recipe_parser, run_recipe



def _module():
    return load_recipe("metric_learning")


def _run(argv):
    return run_recipe("metric_learning", argv)


def test_rows_tables_and_verdict():
    module = _module()
    args = recipe_parser("metric_learning").parse_args(["--sensitivity", "0.1", "1.0", "--stage2-epochs", "3"])
    rows = module.method_rows(args)
    assert list(rows)[:8] == ["ce-crw", "ce-crs", "center-crw", "center-crs", "triplet-crw",
                              "triplet-crs", "supcon-crw", "supcon-crs"]
    assert rows["sc-crw"][1].params["ce_weight"] == 0.0
    assert rows["ce"][1].params["stage2"] is None
    assert "lambda=1" not in rows and rows["lambda=0.1"][1].metric_weight == 0.1  # 1.0 is default
    assert all(m.params["stage2_epochs"] == 3 for _, m in rows.values())

    def stat(mean, std):
        return {"mean": mean, "std": std}

    labels = {k: k for k in rows}
    summary = {k: {"balanced_accuracy": stat(0.5, 0.01)} for k in rows}
    summary["center-crw"]["balanced_accuracy"] = stat(0.6, 0.02)
    summary["triplet-crs"]["balanced_accuracy"] = stat(0.4, 0.02)
    lines = module.verdict(summary, labels)
    assert any(line.startswith("- CE + center → cRW beats CE → cRW") for line in lines)
    assert any(line.startswith("- CE + triplet → cRS is below CE → cRS") for line in lines)
    assert any(line.startswith("- CE + SupCon → cRW is within one std") for line in lines)
    full = {k: {m: stat(0.5, None) for m in module.TABLE_METRICS} for k in rows}
    from kerasimb.runs import ComparisonResult

    class FixedSummary(ComparisonResult):  # a result whose summary is given, not computed
        def __init__(self, summary):
            self._summary, self.runs = summary, []  # no run diverged

        methods = property(lambda self: list(self._summary))

        def summary(self, metrics=None):
            return self._summary

        def check_metrics(self, metrics):
            return list(metrics)

    text = module.table(FixedSummary(full), [("CE → cRW", "ce-crw"), ("SC → cRW", "sc-crw")])
    assert text.splitlines()[2].startswith("| CE → cRW | **0.500** |")


def test_rows_use_the_papers_stage2_and_the_extra_rows_are_opt_in():
    module = _module()
    parser = recipe_parser("metric_learning")
    default = module.method_rows(parser.parse_args([]))
    assert not set(default) & {name for _, name in module.EXTRA_ROWS}  # the default run: as before
    for key, (_, method) in default.items():
        assert method.params["stage2_optimizer"] == "paper", key
        assert method.stage2_learning_rate(1e-3) == 0.1
    rows = module.method_rows(parser.parse_args(["--table2-extra", "all"]))
    extra = [k for k in rows if k not in default]
    assert extra == ["ce-drw", "class-sampling", "reweight", "ldam", "ldam-crw", "ldam-drw",
                     "focal", "focal-crw", "cb-focal", "cb-focal-crw", "mixup", "mixup-crw",
                     "cutmix", "cutmix-crw", "bbn"]
    assert rows["ldam-crw"][0] == "LDAM → cRW" and rows["ldam-crw"][1].params["stage1_method"] == "ldam"
    assert rows["focal-crw"][1].params["stage2_optimizer"] == "paper"
    assert "stage2_optimizer" not in rows["focal"][1].params  # a one-stage method
    some = module.method_rows(parser.parse_args(["--table2-extra", "mixup-crw", "ce-drw"]))
    assert [k for k in some if k not in default] == ["ce-drw", "mixup-crw"]  # the paper's order
    assert _run(["--table2-extra", "bbx"]) == 2
    # Every extra row is compared with the paper's figures on all three datasets.
    for dataset in ("Skin7", "X-ray9", "PathMNIST-LT"):
        (table,) = [t for t in module.PAPER_TABLES
                    if t["source"].startswith("Table 2 ") and dataset + " columns" in t["source"]]
        mapped = {side["where"]["method"] for side in table["ours"].values()}
        assert {name for _, name in module.EXTRA_ROWS} <= mapped, dataset
    skin = module.PAPER_TABLES[0]
    assert skin["rows"]["CE-DRW"] == {"balanced_accuracy": "83.58",
                                      "recall_most_frequent": "84.46",
                                      "recall_least_frequent": "82.23"}


def test_bad_flags_exit_2():
    assert _run(["--stage2-epochs", "0"]) == 2
    assert _run(["--sensitivity", "-1"]) == 2
    assert _run(["--losses", "center", "--no-ablation"]) == 2  # no CE baseline
    assert _run(["--losses", "ce", "center"]) == 2  # the ablation needs supcon
    assert _run(["--losses", "ce", "--no-ablation", "--sensitivity", "0.1"]) == 2  # supcon swept
    assert _run(["--losses", "nope"]) == 2


def test_losses_subset_rows_and_verdict():
    module = _module()
    args = recipe_parser("metric_learning").parse_args(["--losses", "center", "ce", "--no-ablation"])
    assert module.selected_losses(args) == [("CE", "ce"), ("CE + center", "center")]
    assert list(module.method_rows(args)) == ["ce-crw", "ce-crs", "center-crw", "center-crs"]
    summary = {k: {"balanced_accuracy": {"mean": 0.5, "std": None}}
               for k in module.method_rows(args)}
    lines = module.verdict(summary, {k: k for k in summary}, module.selected_losses(args))
    assert [line.split(" ties")[0] for line in lines] == ["- CE + center → cRW",
                                                         "- CE + center → cRS"]


@pytest.mark.slow
def test_tiny_run_writes_report(tmp_path):
    out = tmp_path / "ml"
    code = _run(["--epochs", "1", "--seeds", "0", "--stage2-epochs", "1", "--sensitivity", "0.1",
                 "--no-progress", "--batch-size", "64", "--output", str(out),
                 "--table2-extra", "ce-drw", "ldam-crw"])
    assert code == 0
    report = (out / "report.md").read_text()
    for text in ("Table 2", "Table 3", "CE + SupCon → cRS", "SC → cRW", "sensitivity",
                 "features_supcon.png", "The paper's figures beside ours"):
        assert text in report, text
    for name in ("features_ce.png", "features_center.png", "features_triplet.png",
                 "features_supcon.png", "sensitivity.png", "compare/metrics.json"):
        assert (out / name).exists(), name
    assert np.isfinite(float(report.split("| CE → cRW | ")[1].split(" ")[0].strip("*")))
    # Tables 2 and 3 of the paper beside ours, the ablation rows by their own row keys.
    assert "## The paper's figures beside ours" in report
    assert "| CE+SC → cRW | method=supcon-crw on small_cnn | All | 0.8643 (86.43) |" in report
    assert "| CE | method=ce on small_cnn | Minor | 0.8006 (80.06) |" in report
    assert "| SC → cRW (no CE) | method=sc-crw on small_cnn | All | 0.8436 (84.36) |" in report
    assert "could be retrieved" not in report
    # The extra rows: in Table 2 between the CE rows and the metric-learning rows, and beside
    # the paper's figures; the stage 2 stated is the paper's.
    table2 = report.split("## Table 2")[1].split("\n## ")[0]
    order = [table2.index(f"| {row} |") for row in ("CE → cRS", "CE-DRW", "LDAM → cRW",
                                                     "CE + center → cRW")]
    assert order == sorted(order)
    assert "| LDAM → cRW | method=ldam-crw on small_cnn | All | 0.8236 (82.36) |" in report
    assert "| CE-DRW | method=ce-drw on small_cnn | Minor | 0.7294 (72.94) |" in report
    assert "SGD (learning rate 0.1, momentum 0.9, weight decay 0.0005; cosine schedule to 1e-06)" in report


def test_minority_group_is_the_papers():
    """Zeng et al.'s Minor column: the 3 least frequent classes, 2 for Skin7's seven lesion
    types; the runs' recall of the least frequent group is rewritten with those sizes."""
    import numpy as np

    from kerasimb.runs import ComparisonResult

    module = load_recipe("metric_learning")
    counts = [700, 110, 100, 50, 30, 14, 11]
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(7), 10)
    probabilities = rng.dirichlet(np.ones(7), size=len(y)).astype(np.float32)
    predicted = probabilities.argmax(axis=1)
    recall = np.array([np.mean(predicted[y == c] == c) for c in range(7)])
    result = ComparisonResult(
        {"name": "toy", "class_names": [str(c) for c in range(7)], "class_counts": counts}, {},
        [{"method": "ce", "seed": 0, "report": {"recall_least_frequent": -1.0,
                                                 "recall_most_frequent": -1.0}}],
        y, {("ce", 0): probabilities})

    class Seven:
        num_classes = 7

    groups = module.paper_groups(Seven())
    assert groups == (3, 2)
    module.regroup(result, groups)
    report = result.runs[0]["report"]
    assert report["recall_least_frequent"] == pytest.approx(recall[[6, 5]].mean())
    assert report["recall_most_frequent"] == pytest.approx(recall[[0, 1, 2]].mean())
