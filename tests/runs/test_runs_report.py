"""`runs.report` on results built from known predictions (no training): the quadratic kappa only
for ordinal classes, the balanced-test note, the single-class warning, confusion matrices summed
over seeds, no local paths, and the CSV files read back against the JSON and sklearn."""

import copy
import csv
import json
import os
import re

import numpy as np
import pytest
from sklearn import metrics as skm

from kerasimb.metrics import report as metrics_report
from kerasimb.runs import ComparisonResult, report
from kerasimb.utils.formatting import format_stat

CLASSES = ["head", "middle", "tail"]
SEEDS = [0, 1]
METHODS = ["ce", "reweight"]


def make_result(test_per_class=(6, 6, 6), ordinal=False, constant=None, seed=0):
    """A `ComparisonResult` of two methods x two seeds on made-up test probabilities.

    `constant`: `(method, seed)` whose model predicts class 0 for every image.
    """
    rng = np.random.default_rng(seed)
    y_true = np.repeat(np.arange(3), test_per_class)
    dataset = {
        "name": "toy", "num_classes": 3, "class_names": CLASSES, "class_counts": [40, 10, 4],
        "val_counts": [4, 4, 4], "test_counts": list(test_per_class), "image_shape": [8, 8, 1],
        "train_size": 54, "val_size": 12, "test_size": len(y_true), "imbalance_ratio": 10.0,
        "ordinal": ordinal, "summary": "toy: 3 classes",
    }
    settings = {
        "backbone": "small_cnn", "epochs": 1, "batch_size": 8, "optimizer": "Adam",
        "learning_rate": 0.01, "seeds": SEEDS, "evaluated_on": "test", "select_by": None,
        "methods": {m: {"description": m, "params": {}} for m in METHODS},
        "versions": {"kerasimb": "0"}, "total_seconds": 1.0, "finished": "today",
    }
    runs, probabilities = [], {}
    for method in METHODS:
        for s in SEEDS:
            logits = rng.normal(size=(len(y_true), 3)) + 2.0 * np.eye(3)[y_true]
            probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            if (method, s) == constant:
                probs = np.tile([0.8, 0.15, 0.05], (len(y_true), 1))
            probabilities[(method, s)] = probs.astype(np.float32)
            runs.append({"method": method, "seed": s,
                         "report": metrics_report(y_true, probabilities[(method, s)],
                                                  class_names=CLASSES,
                                                  class_counts=dataset["class_counts"])})
    return ComparisonResult(dataset, settings, runs, y_true, probabilities)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def number(cell):
    return None if cell == "" else float(cell)


# --- quadratic kappa only for ordinal classes ---


def test_quadratic_kappa_left_out_for_nominal_classes(tmp_path):
    result = make_result(ordinal=False)
    assert "quadratic_kappa" not in report.default_metrics(False)
    assert "quadratic_kappa" not in result.table().splitlines()[0]
    assert "quadratic_kappa" not in result.summary()["ce"]
    paths = result.save(tmp_path)
    text = open(paths["report.md"], encoding="utf-8").read()
    assert "quadratic_kappa" not in text and "kappa" not in text
    assert not any(key.startswith("quadratic_kappa") for key in read_csv(paths["summary.csv"])[0])
    assert "quadratic_kappa" not in json.load(open(paths["metrics.json"]))["summary"]["ce"]
    # asked for by name (as a recipe whose paper reports it does), it is still there
    assert "quadratic_kappa" in result.table(["quadratic_kappa", "mcc"]).splitlines()[0]
    assert "quadratic_kappa" in result.summary(["quadratic_kappa"])["ce"]


def test_quadratic_kappa_kept_for_ordinal_classes(tmp_path):
    result = make_result(ordinal=True)
    assert report.default_metrics(True) == report.DEFAULT_METRICS
    assert "quadratic_kappa" in result.table().splitlines()[0]
    paths = result.save(tmp_path)
    text = open(paths["report.md"], encoding="utf-8").read()
    assert "- `quadratic_kappa`: Cohen's kappa" in text
    assert "quadratic_kappa_mean" in read_csv(paths["summary.csv"])[0]


def test_default_metrics_needs_a_bool():
    with pytest.raises(TypeError, match="argument `ordinal`.*Received: ordinal='yes'"):
        report.default_metrics("yes")


# --- notes and warnings under the table ---


def test_balanced_test_split_is_said():
    text = report.report_markdown(make_result((6, 6, 6)))
    assert ("The test split is balanced (6 images in every class), so accuracy equals "
            "balanced accuracy here.") in text
    assert "is balanced" not in report.report_markdown(make_result((8, 6, 4)))


def test_single_class_model_is_warned_about_under_the_table():
    result = make_result(constant=("reweight", 1))
    assert report.single_class_runs(result) == [("reweight", 1, "head")]
    text = report.report_markdown(result)
    warning = ("**Warning:** `reweight` (seed 1) predicts a single class, `head`, for every test "
               "image")
    assert warning in text
    table_end = text.index(result.table()) + len(result.table())
    assert table_end < text.index(warning) < text.index("## Recall per class")
    assert "Warning" not in report.report_markdown(make_result())
    # each warning is a paragraph of its own (markdown would run adjacent lines together)
    both = make_result(constant=("ce", 0))
    both.runs[3]["report"]["confusion_matrix"] = [[6, 0, 0], [6, 0, 0], [6, 0, 0]]
    text = report.report_markdown(both)
    assert re.search(r"`ce` \(seed 0\) .*\n\n\*\*Warning:\*\* `reweight` \(seed 1\)", text)


def test_single_class_found_from_probabilities_without_a_confusion_matrix():
    result = make_result(constant=("ce", 0))
    for run in result.runs:
        del run["report"]["confusion_matrix"]
    assert report.single_class_runs(result) == [("ce", 0, "head")]


# --- confusion matrices summed over seeds ---


def test_confusion_matrices_are_summed_over_seeds(tmp_path, monkeypatch):
    from kerasimb.utils import plotting

    result = make_result()
    drawn = {}
    original = plotting.plot_confusion_matrix

    def recording(matrix, class_names=None, path=None, title=None):
        drawn[title] = np.asarray(matrix)
        return original(matrix, class_names, path=path, title=title)

    monkeypatch.setattr(plotting, "plot_confusion_matrix", recording)
    paths = result.save(tmp_path)
    for method in METHODS:
        expected = sum(skm.confusion_matrix(result.y_true,
                                            result.probabilities[(method, s)].argmax(axis=1),
                                            labels=[0, 1, 2]) for s in SEEDS)
        np.testing.assert_array_equal(result.confusion_matrix(method), expected)
        np.testing.assert_array_equal(drawn[f"{method}, summed over 2 seeds"], expected)
        assert expected.sum() == 2 * len(result.y_true)
    text = open(paths["report.md"], encoding="utf-8").read()
    assert "## Confusion matrices (summed over 2 seeds)" in text
    assert "seed 0)" not in text.split("## Confusion matrices")[1]
    with pytest.raises(ValueError, match="argument `method`.*Received: method='nope'"):
        result.confusion_matrix("nope")


# --- no local paths or project-internal sentences ---


def test_report_has_no_local_paths_or_internal_names(tmp_path):
    result = make_result()
    result.settings["select_by"] = "balanced_accuracy"
    paths = result.save(tmp_path, paths=[f"/data/scans/{i}.png" for i in range(18)])
    text = open(paths["report.md"], encoding="utf-8").read()
    for local in (str(tmp_path), os.getcwd(), os.path.expanduser("~"), "/data/scans"):
        assert local not in text, local
    assert not re.search(r"callbacks\.|issue|DESIGN|STYLE", text)
    assert "best validation `balanced_accuracy`" in text


# --- CSV files beside the JSON ---


def test_summary_csv_matches_the_json(tmp_path):
    result = make_result()
    paths = result.save(tmp_path)
    rows = read_csv(paths["summary.csv"])
    summary = json.load(open(paths["metrics.json"]))["summary"]
    assert [r["method"] for r in rows] == METHODS
    for row in rows:
        assert int(row["seeds"]) == 2
        for metric, stat in summary[row["method"]].items():
            assert number(row[f"{metric}_mean"]) == stat["mean"]  # full precision: equal
            assert number(row[f"{metric}_std"]) == stat["std"]
            assert int(row[f"{metric}_n"]) == stat["n"]


def test_per_class_csv_matches_sklearn(tmp_path):
    result = make_result(test_per_class=(8, 6, 4), constant=("ce", 1))
    paths = result.save(tmp_path)
    rows = read_csv(paths["per_class.csv"])
    assert len(rows) == 4 * 3
    assert list(rows[0]) == ["method", "seed", "class", "train_count", "test_count", "recall",
                             "precision", "f1"]
    stored = json.load(open(paths["metrics.json"]))
    recalls = {(r["method"], r["seed"]): r["report"]["per_class_recall"] for r in stored["runs"]}
    for method in METHODS:
        for s in SEEDS:
            y_pred = result.probabilities[(method, s)].argmax(axis=1)
            kwargs = dict(labels=[0, 1, 2], average=None, zero_division=np.nan)
            expected = {"recall": skm.recall_score(result.y_true, y_pred, **kwargs),
                        "precision": skm.precision_score(result.y_true, y_pred, **kwargs),
                        "f1": skm.f1_score(result.y_true, y_pred, **kwargs)}
            mine = [r for r in rows if r["method"] == method and int(r["seed"]) == s]
            assert [r["class"] for r in mine] == CLASSES
            assert [int(r["train_count"]) for r in mine] == [40, 10, 4]
            assert [int(r["test_count"]) for r in mine] == [8, 6, 4]
            for key, values in expected.items():
                got = np.array([np.nan if r[key] == "" else float(r[key]) for r in mine])
                np.testing.assert_allclose(got, values, rtol=0, atol=1e-12, equal_nan=True)
            assert [float(r["recall"]) for r in mine] == [recalls[method, s][c] for c in CLASSES]
    # the constant model never predicts "middle" or "tail": no precision there, not 0
    constant = [r for r in rows if r["method"] == "ce" and r["seed"] == "1"]
    assert [r["precision"] for r in constant][1:] == ["", ""]


def test_predictions_csv_matches_the_arrays_and_names_the_files(tmp_path):
    result = make_result()
    files = [f"scans/{c}/{i}.png" for i, c in enumerate(np.repeat(CLASSES, 6))]
    paths = result.save(tmp_path, paths=files)
    rows = read_csv(paths["predictions.csv"])
    assert list(rows[0]) == ["method", "seed", "index", "path", "true_class", "predicted_class",
                             "p_head", "p_middle", "p_tail"]
    assert len(rows) == 4 * 18
    stored = np.load(paths["predictions.npz"])
    for row in rows:
        i = int(row["index"])
        probs = stored[f"{row['method']}/seed{row['seed']}"][i]
        assert row["path"] == files[i]
        assert row["true_class"] == CLASSES[stored["y_true"][i]]
        assert row["predicted_class"] == CLASSES[int(probs.argmax())]
        assert [float(row[f"p_{c}"]) for c in CLASSES] == [float(p) for p in probs]


def test_predictions_csv_paths_from_the_dataset_or_image_files_or_indices(tmp_path):
    from kerasimb.data import ImageFiles

    result = make_result()
    plain = read_csv(result.save(tmp_path / "plain")["predictions.csv"])
    assert "path" not in plain[0] and [r["index"] for r in plain[:3]] == ["0", "1", "2"]

    listed = copy.deepcopy(result)
    listed.dataset["test_paths"] = [f"t/{i}.png" for i in range(18)]
    rows = read_csv(listed.save(tmp_path / "listed")["predictions.csv"])
    assert [r["path"] for r in rows[:2]] == ["t/0.png", "t/1.png"]

    files = ImageFiles([f"x/{i}.png" for i in range(18)], image_size=8, channels=1)
    rows = read_csv(report.save_comparison(result, tmp_path / "files", paths=files)
                    ["predictions.csv"])
    assert rows[17]["path"] == "x/17.png"

    with pytest.raises(ValueError, match=r"argument `paths`.*\(18\). Received: 2 paths"):
        report.write_predictions_csv(result, tmp_path / "p.csv", paths=["a", "b"])
    with pytest.raises(TypeError, match="argument `paths`"):
        report.write_predictions_csv(result, tmp_path / "p.csv", paths="a.png")


# --- the `vs baseline` column ---


def _diverge(result, method, seed):
    """Turns the run of (`method`, `seed`) into a diverged one: no scores, no predictions."""
    for i, run in enumerate(result.runs):
        if (run["method"], run["seed"]) == (method, seed):
            result.runs[i] = {"method": method, "seed": seed, "report": {},
                              "diverged": {"epoch": 1, "last_finite_loss": None,
                                           "reason": "nan loss"}}
    del result.probabilities[(method, seed)]


def test_versus_baseline_pairs_only_the_seeds_both_methods_have():
    result = make_result(seed=3)
    _diverge(result, "reweight", 1)
    versus = result.versus_baseline()["reweight"]
    assert versus["seeds"] == [0] and versus["num_seeds"] == 1 and versus["reliable"] is False
    y = result.y_true
    expected = (metrics_report(y, result.probabilities["reweight", 0])["balanced_accuracy"]
                - metrics_report(y, result.probabilities["ce", 0])["balanced_accuracy"])
    assert versus["difference"] == pytest.approx(expected)
    text = result.table(["mcc"])
    assert text.splitlines()[0] == "| method | mcc | vs baseline |"
    mcc = format_stat(result.summary(["mcc"])["ce"]["mcc"])
    assert text.splitlines()[2] == f"| ce | {mcc} | baseline |"
    assert "With 2 seeds the interval is unreliable" in text
    assert "`reweight` is paired with `ce` on seeds [0] only (the others diverged)." in text
    result = make_result(seed=3)
    _diverge(result, "reweight", 1)
    _diverge(result, "ce", 0)  # no seed has both
    text = result.table(["mcc"])
    assert "| n/a |" in text and "`reweight` has no seed paired with `ce`" in text
    assert result.versus_baseline()["reweight"]["verdict"] == "not shown"


def test_versus_baseline_needs_predictions_of_two_methods():
    result = make_result()
    bare = ComparisonResult(result.dataset, result.settings, result.runs)  # no predictions
    assert bare.versus_baseline() == {} and bare.to_json()["versus_baseline"] == {}
    assert "vs baseline" not in bare.table()
    alone = ComparisonResult(result.dataset, result.settings, result.runs[:2], result.y_true,
                             {k: v for k, v in result.probabilities.items() if k[0] == "ce"})
    assert alone.methods == ["ce"] and "vs baseline" not in alone.table()


def test_baseline_and_main_metric_come_from_the_settings():
    result = make_result()
    assert (result.baseline, result.main_metric) == ("ce", "balanced_accuracy")
    result.settings.update(baseline="reweight", main_metric="macro_f1")
    assert list(result.versus_baseline()) == ["ce"]
    assert result.versus_baseline()["ce"]["metric"] == "macro_f1"
    assert "| reweight |" in result.table() and "| baseline |" in result.table()
    assert "paired difference in macro-F1 vs `reweight`" in result.table()
    # A recipe's row names name the baseline too (the column says "baseline" on that row).
    named = result.table(rows=[("re-weighting", "reweight"), ("CE", "ce")])
    assert "paired difference in macro-F1 vs re-weighting (`reweight`)" in named
    assert "| re-weighting |" in named and "| CE |" in named
    result.settings["baseline"] = "a method of another comparison"
    assert result.baseline == "ce"
    with pytest.raises(ValueError, match=r"`baseline`.*\['ce', 'reweight'\].*baseline='nope'"):
        result.versus_baseline(baseline="nope")
    with pytest.raises(ValueError, match=r"`metric`.*metric='per_class_recall'"):
        result.versus_baseline(metric="per_class_recall")


def test_versus_baseline_text_signs():
    assert report.versus_baseline_text(
        {"difference": -0.0004, "low": -0.0123, "high": 0.011}) == "+0.000 [\u22120.012, +0.011]"
    assert report.versus_baseline_text(
        {"difference": 0.26, "low": 0.1, "high": 0.4}, digits=1) == "+0.3 [+0.1, +0.4]"
    assert report.versus_baseline_text({"difference": float("nan"), "low": 0, "high": 0}) == "n/a"
