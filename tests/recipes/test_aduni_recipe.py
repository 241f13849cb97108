"""Smoke test of the recipe kerasimb.recipes.aduni: rows, the α plot, and a tiny run end to end."""


import os
import re

import pytest
from recipe_runner import load_recipe, recipe_parser, run_recipe



def _module():
    return load_recipe("aduni")


def _run(argv):
    return run_recipe("aduni", argv)


def test_rows_follow_the_paper_and_the_schedule_flag(tmp_path):
    from kerasimb import methods

    module = _module()
    args = recipe_parser("aduni").parse_args(["--schedule", "compounding"])
    rows = module.table_methods(args, "none")
    names = [m.name for _, m in rows]
    assert names[0] == "ce"
    assert names[-5:] == ["paco", "paco-aduni", "aduni-fixed-alpha", "aduni", "aduni"]
    assert rows[-2][1].params["schedule"] == "compounding"
    assert rows[-2][1].params["augment"] == {"flip": None}
    assert (rows[-3][1].params["schedule"], rows[-3][1].params["alpha"]) == (None, 1.0)
    assert (rows[-1][1].params["schedule"], rows[-1][1].params["alpha"]) == (None, 0.0)
    assert module.resolve_flip(args, "digits-lt") == "none"
    assert module.resolve_flip(args, "pneumoniamnist") == "horizontal_and_vertical"
    assert ("focal" in names) == ("focal" in methods.names())
    args = recipe_parser("aduni").parse_args(["--rows", "aduni", "ce", "--no-ablation"])
    assert [m.name for _, m in module.table_methods(args)] == ["ce", "aduni"]
    # An alias (the older `aduc`) selects its method's row, exactly as the name does.
    args = recipe_parser("aduni").parse_args(["--rows", "aduc", "ce", "--no-ablation"])
    by_alias = module.table_methods(args, "none")
    assert [(label, m.name) for label, m in by_alias] == [("CE", "ce"), ("AdUni (AduC)", "aduni")]
    args = recipe_parser("aduni").parse_args(["--rows", "aduni", "aduni-fixed-alpha", "paco",
                                             "--schedule", "linear"])
    issue_rows = module.table_methods(args, "none")  # Table 1's order, then the α = 0 row
    assert [m.name for _, m in issue_rows] == ["paco", "aduni-fixed-alpha", "aduni", "aduni"]
    assert issue_rows[0][1].params["queue_size"] == 1024  # the paper's PaCo
    assert [m.params["schedule"] for _, m in issue_rows] == [None, None, "linear", None]
    assert all(m.params["augment"] == {"flip": None} for _, m in issue_rows)
    args = recipe_parser("aduni").parse_args(["--rows", "ce", "paco", "paco-aduc",
                                             "--paco-queue", "64"])
    queued = module.table_methods(args, "none")
    assert [(label, m.name, m.params["queue_size"], m.params["schedule"])
            for label, m in queued[1:]] == [("PaCo (queue, α = 0.02)", "paco", 64, None),
                                            ("PaCo + AduC (queue)", "paco-aduni", 64,
                                             "stretched")]
    args = recipe_parser("aduni").parse_args(["--rows", "paco", "--paco-queue", "0"])
    assert module.table_methods(args, "none")[0][1].params["queue_size"] == 0
    module.plot_alpha(5, [1.0, 0.8, 0.5, 0.2, 0.01], str(tmp_path / "alpha.png"))
    assert (tmp_path / "alpha.png").exists()


def test_per_class_f1_and_feature_snapshots_line_up(tmp_path):
    import numpy as np
    from types import SimpleNamespace

    from kerasimb import methods
    from kerasimb.models import SmallCNN

    module = _module()
    runs = [{"method": "ce", "seed": s, "report": {"confusion_matrix": m}}
            for s, m in ((0, [[3, 1], [0, 2]]), (1, [[4, 0], [2, 0]]))]
    f1 = module.class_f1(SimpleNamespace(runs=runs), ["ce"])
    # By hand: seed 0 F1 = (6/7, 4/5); seed 1 F1 = (8/10, 0/2).
    np.testing.assert_allclose(f1["ce"][0], [(6 / 7 + 0.8) / 2, 0.4])
    np.testing.assert_allclose(f1["ce"][1], [abs(6 / 7 - 0.8) / 2, 0.4])
    rows = [("CE", methods.get("ce")), ("PaCo", methods.get("paco")),
            ("AdUni", methods.get("aduni"))]
    labels = ["ce", "paco", "aduni"]
    a, b, c, d = (np.full((4, 3), v) for v in range(4))
    # Two seeds: CE records None twice, then paco (a, b) and aduni (c, d).
    pictured = module.snapshot_runs(rows, labels, 2, [None, None, a, b, c, d])
    assert [(r, l) for r, l, _ in pictured] == [("PaCo", "paco"), ("AdUni", "aduni")]
    assert pictured[0][2] is a and pictured[1][2] is c  # the first seed of each
    assert module.snapshot_runs(rows, labels, 2, [a, b, c]) is None  # resumed runs
    empty = np.zeros((4, 0))  # what `encoder_features` records for models without an encoder
    assert len(module.snapshot_runs(rows, labels, 2, [empty, empty, a, b, c, d])) == 2
    # Five folds of one seed: five runs per row, the first fold's features pictured (the
    # recipe said "resumed from disk" and drew nothing when it counted seeds instead).
    folds = recipe_parser("aduni").parse_args(["--folds", "5"])
    assert module.runs_per_row(folds) == 5 and module.first_run_name(folds) == "fold 0"
    seeds = recipe_parser("aduni").parse_args(["--seeds", "3", "4"])
    assert module.runs_per_row(seeds) == 2 and module.first_run_name(seeds) == "seed 3"
    five = [np.full((4, 3), v) for v in range(10)]
    pictured = module.snapshot_runs(rows, labels, module.runs_per_row(folds), [None] * 5 + five)
    assert pictured[0][2] is five[0] and pictured[1][2] is five[5]
    cnn = SmallCNN((8, 8, 1), 2, width=2, depth=1)
    assert module.encoder_features(cnn, np.zeros((3, 8, 8, 1))).shape == (3, 0)
    args = recipe_parser("aduni").parse_args([])
    assert (args.embedding, args.feature_samples, args.no_features) == ("tsne", 600, False)
    x, y = module.feature_sample(SimpleNamespace(test=(np.zeros((10, 2, 2, 1)), np.arange(10))),
                                 4)
    assert x.shape == (4, 2, 2, 1) and len(set(y)) == 4


def test_unknown_row_is_rejected(capsys):
    assert _run(["--rows", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_run_writes_report(tmp_path):
    out = tmp_path / "aduni"
    code = _run(["--dataset", "digits-lt", "--epochs", "2", "--seeds", "0", "--rows", "ce",
                 "paco", "aduni", "--no-ablation", "--samplers", "progressive",
                 "--no-progress", "--batch-size", "64", "--feature-samples", "60",
                 "--fixed-alpha-block", "--output", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "## Calibration" in report and (out / "compare/reliability.png").exists()
    assert "(compare/reliability.png)" in report
    for text in ("| CE |", "| PaCo (queue, α = 0.02) |", "| AdUni (AduC) |", "alpha_schedule.png",
                 "ISIC2018", "per_class_f1.png", "features_1.png", "features_3.png",
                 "## Table 2", "| AdUni, no sampling |",
                 "| AdUni + progressive sampling (instance → class) |"):
        assert text in report
    for name in ("alpha_schedule.png", "per_class_f1.png", "features_1.png", "features_5.png"):
        assert (out / name).exists()
    # paco, aduni, aduni + progressive and the two α = 0.01 rows train AdUni models; CE does not
    assert not (out / "features_6.png").exists()
    # The paper's Tables 1 and 2 beside ours; the sampler row relabelled as aduni+progressive.
    assert "## The paper's figures beside ours" in report
    assert "| AdUni | method=aduni on small_cnn | Acc | 0.8780 |" in report
    assert "| CE | method=ce on small_cnn | Macro F1 | 0.7010 |" in report
    assert ("| α 1 → 0.01, ProBal sampling | method=aduni+progressive on small_cnn | Acc | "
            "0.8800 |") in report
    assert "could not be retrieved" not in report
    assert (out / "compare" / "metrics.json").exists()
    # Table 2's constant-α block beside the paper's, and the paper's Fig. 2.
    for text in ("| AdUni, α = 0.01 fixed, no sampling |",
                 "| AdUni, α = 0.01 fixed + progressive sampling (instance → class) |",
                 "| α 0.01, w/o sampling | method=aduni-fixed-alpha(alpha=0.01) on small_cnn | "
                 "Acc | 0.8670 |",
                 "| α 0.01, ProBal sampling | method=aduni-fixed-alpha(alpha=0.01)+progressive "
                 "on small_cnn | Macro F1 | 0.7670 |",
                 "## Loss of each class (the paper's Fig. 2)", "| class | training images | CE | "
                 "AdUni (AduC) |", "![loss of each class](class_losses.png)"):
        assert text in report, text
    assert "block has no row" not in report and (out / "class_losses.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--samplers"], "expected at least one argument"),
    (["--samplers", "none", "up"], "cannot be combined with samplers, received none up"),
    (["--samplers", "upsampling"], "invalid choice: 'upsampling'"),
])
def test_samplers_flag_refuses_an_empty_or_mixed_list_in_one_line(capsys, argv, message):
    # `--samplers` given alone used to mean "no sampler rows", the opposite of its default.
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert "--samplers" in err and message in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_folds_run_pictures_the_first_fold_and_draws_fold_error_bars(tmp_path):
    out = tmp_path / "aduni"
    code = _run(["--dataset", "digits-lt", "--epochs", "1", "--folds", "2", "--rows", "ce",
                 "aduni", "--no-ablation", "--samplers", "none", "--no-progress",
                 "--batch-size", "64", "--feature-samples", "30", "--embedding", "pca",
                 "--output", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "resumed from disk" not in report and (out / "features_1.png").exists()
    assert "after the last epoch of fold 0" in report and "error bars: std over folds" in report


def test_table2_rows_and_sampler_flags():
    from kerasimb import methods

    module = _module()
    args = recipe_parser("aduni").parse_args([])
    assert args.samplers == ["up", "sqrt", "progressive"] and not args.sampler_baselines
    extra = module.sampler_methods(args, "none")
    assert [m.name for _, m in extra] == ["aduni"] * 3
    assert [m.params["sampling"] for _, m in extra] == [0.0, 0.5, "progressive"]
    assert all(m.params["augment"] == {"flip": None} for _, m in extra)
    assert all(m.params["schedule"] == "stretched" for _, m in extra)
    args = recipe_parser("aduni").parse_args(["--samplers", "sqrt", "--sampler-baselines"])
    extra = module.sampler_methods(args)
    assert [m.name for _, m in extra] == ["aduni"] + (
        ["sqrt-sampling"] if "sqrt-sampling" in methods.names() else [])
    assert module.sampler_methods(recipe_parser("aduni").parse_args(["--samplers", "none"])) == []
    # Table 2: the no-sampler row first (Table 1's AdUni row), then the samplers in order.
    rows = [("CE", None), ("AdUni (AduC)", None),
            ("AdUni + square-root sampling (q = ½)", None),
            ("AdUni + up-sampling (class-balanced, q = 0)", None)]
    labels = ["ce", "aduni", "aduni(sampling=0.5)", "aduni(sampling=0.0)"]
    assert module.table2_rows(rows, labels, ["up", "sqrt"]) == [
        ("AdUni, no sampling", "aduni"),
        ("AdUni + up-sampling (class-balanced, q = 0)", "aduni(sampling=0.0)"),
        ("AdUni + square-root sampling (q = ½)", "aduni(sampling=0.5)")]
    assert module.table2_rows(rows[:2], labels[:2], []) == []


def test_fixed_alpha_block_rows_labels_and_table2_order():
    module = _module()
    assert not recipe_parser("aduni").parse_args([]).fixed_alpha_block
    args = recipe_parser("aduni").parse_args(["--fixed-alpha-block", "--samplers", "up",
                                             "progressive"])
    extra = module.sampler_methods(args, "none")
    assert [row for row, _ in extra] == [
        "AdUni + up-sampling (class-balanced, q = 0)",
        "AdUni + progressive sampling (instance → class)",
        "AdUni, α = 0.01 fixed",
        "AdUni, α = 0.01 fixed + up-sampling (class-balanced, q = 0)",
        "AdUni, α = 0.01 fixed + progressive sampling (instance → class)"]
    fixed = [m for _, m in extra[2:]]
    assert {m.name for m in fixed} == {"aduni-fixed-alpha"}
    assert [(m.params["alpha"], m.params["schedule"]) for m in fixed] == [(0.01, None)] * 3
    assert [m.params["sampling"] for m in fixed] == [None, 0.0, "progressive"]
    assert all(m.params["augment"] == {"flip": None} for m in fixed)
    assert all(m.callbacks(None, 5) == [] for m in fixed[:2])  # no α schedule: α stays 0.01
    # The paper's labels of the rows (`PAPER_TABLES` selects its runs by them).
    assert [module.paper_label(row, None) for row, _ in extra[2:]] == [
        "aduni-fixed-alpha(alpha=0.01)", "aduni-fixed-alpha(alpha=0.01)+up",
        "aduni-fixed-alpha(alpha=0.01)+progressive"]
    assert module.paper_label("AdUni without AduC (α = 1 fixed)", None) == "aduni-fixed-alpha"
    # Table 2: the constant-α block first (as the paper), then the schedule block.
    rows = [("AdUni (AduC)", None), *extra]
    labels = ["aduni", "a+up", "a+pro", "f", "f+up", "f+pro"]
    assert module.table2_rows(rows, labels, args.samplers) == [
        ("AdUni, α = 0.01 fixed, no sampling", "f"),
        ("AdUni, α = 0.01 fixed + up-sampling (class-balanced, q = 0)", "f+up"),
        ("AdUni, α = 0.01 fixed + progressive sampling (instance → class)", "f+pro"),
        ("AdUni, no sampling", "aduni"),
        ("AdUni + up-sampling (class-balanced, q = 0)", "a+up"),
        ("AdUni + progressive sampling (instance → class)", "a+pro")]
    # Without samplers the block is its one row, still a Table 2.
    args = recipe_parser("aduni").parse_args(["--fixed-alpha-block", "--samplers", "none"])
    extra = module.sampler_methods(args, "none")
    assert [row for row, _ in extra] == ["AdUni, α = 0.01 fixed"]
    assert module.table2_rows(extra, ["f"], []) == [("AdUni, α = 0.01 fixed, no sampling", "f")]


PAPERS = "/work/shared/papers"
ADUNI_PAPER = os.path.join(os.environ.get("KERASIMB_PAPERS", PAPERS), "003_c6d09a1f1aab242c.txt")


@pytest.mark.skipif(not os.path.exists(ADUNI_PAPER), reason="the paper's text is not at hand")
def test_table2_blocks_are_transcribed_from_their_own_block():
    """Each transcribed Table 2 row stands in its own block of the paper's Table 2 (α 0.01, then
    α 1 → 0.01), on the line of its sampler, as the leading number of each of the four cells
    (ISIC2018 Acc, Macro F1, APTOS2019 Acc, Macro F1), read here from the text."""
    with open(ADUNI_PAPER, encoding="utf-8") as f:
        text = f.read()
    start = text.index("Table 2. Classification accuracy")
    lines = [l for l in text[start:].splitlines()[1:20] if "\t" in l and "sampling" in l]
    blocks, current = {}, None
    for line in lines:
        head, sampler, *cells = line.split("\t")
        if head.strip():
            current = "α 0.01" if "0.01}" in head and "rightarrow" not in head else "α 1 → 0.01"
        sampler = {"w/o": "w/o sampling", "up-": "up-sampling", "SqR": "SqRt sampling",
                   "Pro": "ProBal sampling"}[sampler.strip()[:3]]
        means = [re.search(r"\d\.\d{3}", cell).group(0) for cell in cells]
        blocks[f"{current}, {sampler}"] = means
    assert len(blocks) == 8
    module = _module()
    tables = {t["source"]: t for t in module.PAPER_TABLES}
    isic = tables["Table 2 of Cong et al., MLMI 2022, ISIC2018 columns"]
    aptos = tables["Table 2 of Cong et al., MLMI 2022, APTOS2019 columns"]
    for row in blocks:
        if row not in isic["rows"]:
            assert row == "α 1 → 0.01, w/o sampling"  # Table 1's AdUni row, the same figures
            continue
        printed = [isic["rows"][row]["accuracy"], isic["rows"][row]["macro_f1"],
                   aptos["rows"][row]["accuracy"], aptos["rows"][row]["macro_f1"]]
        assert printed == blocks[row], row
    fixed = [row for row in isic["rows"] if row.startswith("α 0.01")]
    assert len(fixed) == 4 and all(isic["ours"][r]["where"]["method"].startswith(
        "aduni-fixed-alpha(alpha=0.01)") for r in fixed)


def test_class_losses_match_a_loop_over_the_stored_probabilities(tmp_path):
    """The paper's Fig. 2 from stored test probabilities: per seed, the mean of −log p(true
    class) over each class's test images (re-derived here one image at a time with math.log),
    then mean and std over seeds; diverged runs (no probabilities) and other rows left out."""
    import math
    from types import SimpleNamespace

    import numpy as np

    module = _module()
    rng = np.random.default_rng(3)
    y = np.array([2, 0, 1, 1, 0, 2, 2, 0, 1])
    probs = {}
    for seed in (0, 1):
        p = rng.uniform(0.05, 1.0, (len(y), 3))
        probs["aduni", seed] = p / p.sum(axis=1, keepdims=True)
    probs["aduni", 1][4] = [0.0, 0.5, 0.5]  # a zero probability: the loss is -log(1e-7)
    probs["ce", 0] = np.full((len(y), 3), 1 / 3)
    runs = [{"method": "aduni", "seed": 0}, {"method": "aduni", "seed": 1},
            {"method": "aduni", "seed": 2, "diverged": {}}, {"method": "ce", "seed": 0}]
    fake = SimpleNamespace(runs=runs, probabilities=probs, y_true=y,
                           dataset={"num_classes": 3})
    expected = []
    for seed in (0, 1):
        sums, counts = [0.0] * 3, [0] * 3
        for i, label in enumerate(y):
            sums[label] += -math.log(max(probs["aduni", seed][i][label], 1e-7))
            counts[label] += 1
        expected.append([sums[c] / counts[c] for c in range(3)])
    means, stds = module.class_losses(fake, "aduni")
    np.testing.assert_allclose(means, np.mean(expected, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stds, np.abs(np.subtract(*expected)) / 2, rtol=1e-12)
    # the zero probability counted as -log(1e-7) ≈ 16.1 (finite), one of 3 images, 2 seeds
    assert np.isfinite(means).all() and means[0] > math.log(1e7) / 3 / 2
    np.testing.assert_allclose(module.class_losses(fake, "ce")[0], [math.log(3)] * 3)
    assert module.class_losses(fake, "paco") is None
    # Table and plot: classes from the most to the fewest training images.
    losses = {"CE": module.class_losses(fake, "ce"), "AdUni (AduC)": (means, stds)}
    table = module.class_loss_table(losses, ["a", "b", "c"], [5, 40, 12]).splitlines()
    assert [line.split(" | ")[0] for line in table[2:5]] == ["| b", "| c", "| a"]
    assert table[2] == (f"| b | 40 | 1.099 | {means[1]:.3f} ± {stds[1]:.3f} |")
    assert table[-1] == f"| largest − smallest | | 0.000 | {means.max() - means.min():.3f} |"
    module.plot_class_losses(losses, ["a", "b", "c"], [5, 40, 12], str(tmp_path / "l.png"))
    assert (tmp_path / "l.png").exists()
    # The report section names a missing row instead of drawing.
    from kerasimb import methods

    dataset = SimpleNamespace(class_names=["a", "b", "c"], class_counts=[5, 40, 12])
    lines = module.class_loss_section(fake, [("CE", methods.get("ce"))], ["ce"], None, dataset,
                                      str(tmp_path), "1 seed")
    assert "no test predictions of AdUni (AduC)" in "\n".join(lines)
    lines = module.class_loss_section(fake, [("CE", methods.get("ce"))], ["ce"], "aduni",
                                      dataset, str(tmp_path), "2 seeds")
    assert "![loss of each class](class_losses.png)" in lines
    assert (tmp_path / "class_losses.png").exists()
