import json
import math
import os
import re

import numpy as np
import pytest
from sklearn import metrics as skm

from kerasimb import experiment, methods, runs
from kerasimb.data import ImageDataset
from kerasimb.runs import DEFAULT_METRICS, ComparisonResult, compare
from kerasimb.runs.report import report_markdown
from kerasimb.models import model_fn

SEEDS = [0, 1]


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3, 0] += 170  # a bright stripe whose position is the class
        return x, y

    return ImageDataset(split([12, 5, 2]), split([4, 4, 4]), split([6, 6, 6]),
                        ["head", "middle", "tail"], name="tiny")


TINY_MODEL = model_fn("small_cnn", width=4, depth=2)


@pytest.fixture(scope="module")
def result():
    return compare(tiny_dataset(), ["ce", "reweight"], backbone=TINY_MODEL, epochs=1,
                   seeds=SEEDS, batch_size=8, learning_rate=1e-2, progress=False)


@pytest.fixture(scope="module")
def saved(result, tmp_path_factory):
    directory = tmp_path_factory.mktemp("compare")
    return directory, result.save(directory)


def sklearn_figures(y_true, probs):
    y_pred = probs.argmax(axis=1)
    recall = skm.recall_score(y_true, y_pred, labels=[0, 1, 2], average=None, zero_division=0)
    return {
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "macro_f1": skm.f1_score(y_true, y_pred, labels=[0, 1, 2], average="macro",
                                 zero_division=0),
        "mcc": skm.matthews_corrcoef(y_true, y_pred),
        "quadratic_kappa": skm.cohen_kappa_score(y_true, y_pred, weights="quadratic"),
        "smallest_class_recall": recall[2],  # "tail" has the fewest training images
        "auc": skm.roc_auc_score(y_true, probs, multi_class="ovr"),
        "recall": recall,
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=[0, 1, 2]),
    }


def parse_table(text):
    """`(header, {row name: {column: cell}})` of the markdown table that `text` starts with
    (the explanations under it are not rows)."""
    lines = text.strip().split("\n\n")[0].splitlines()
    assert all(line.startswith("|") for line in lines), text
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return header, rows


def test_runs_and_reports(result):
    assert isinstance(result, ComparisonResult)
    assert result.methods == ["ce", "reweight"]
    assert result.seeds == SEEDS
    assert set(result.reports) == {(m, s) for m in ("ce", "reweight") for s in SEEDS}
    assert result.dataset["class_counts"] == [12, 5, 2]
    assert result.settings["epochs"] == 1 and result.settings["seeds"] == SEEDS
    assert result.settings["methods"]["reweight"]["params"]["weighting"] == "inverse"
    for run in result.runs:
        assert len(run["history"]["loss"]) == 1
    for probs in result.probabilities.values():
        assert probs.shape == (18, 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_table_is_mean_and_sample_std_of_sklearn_figures(result, saved):
    directory, _ = saved
    header, rows = parse_table(result.table())
    shown = runs.report.default_metrics(False)  # nominal classes: no quadratic kappa
    assert header == ["method", *shown, "vs baseline"] and "quadratic_kappa" not in shown
    assert list(rows) == ["ce", "reweight"]
    stored = np.load(os.path.join(directory, "predictions.npz"))
    y_true = stored["y_true"]
    np.testing.assert_array_equal(y_true, np.repeat([0, 1, 2], 6))
    summary = result.summary()
    for method in ("ce", "reweight"):
        per_seed = [sklearn_figures(y_true, stored[f"{method}/seed{s}"]) for s in SEEDS]
        for metric in shown:
            values = np.array([f[metric] for f in per_seed], dtype=np.float64)
            mean, std = values.mean(), values.std(ddof=1)
            cell = rows[method][metric]
            assert re.fullmatch(r"-?\d\.\d{3} ± \d\.\d{3}", cell), cell
            shown_mean, shown_std = (float(v) for v in cell.split(" ± "))
            assert abs(shown_mean - mean) <= 5e-4 + 1e-9, (method, metric, cell, mean)
            assert abs(shown_std - std) <= 5e-4 + 1e-9, (method, metric, cell, std)
            assert math.isclose(summary[method][metric]["mean"], mean, abs_tol=1e-6)
            assert math.isclose(summary[method][metric]["std"], std, abs_tol=1e-6)
    # the `vs baseline` column: the first method is the baseline; the other's paired difference
    # in balanced accuracy is the mean over seeds of sklearn's differences, inside its interval
    assert rows["ce"]["vs baseline"] == "baseline"
    cell = rows["reweight"]["vs baseline"].replace("\u2212", "-")
    match = re.fullmatch(r"([+-]\d\.\d{3}) \[([+-]\d\.\d{3}), ([+-]\d\.\d{3})\]", cell)
    assert match, cell
    difference, low, high = (float(v) for v in match.groups())
    expected = np.mean([sklearn_figures(y_true, stored[f"reweight/seed{s}"])["balanced_accuracy"]
                        - sklearn_figures(y_true, stored[f"ce/seed{s}"])["balanced_accuracy"]
                        for s in SEEDS])
    assert abs(difference - expected) <= 5e-4 + 1e-9 and low <= difference <= high
    versus = result.versus_baseline()["reweight"]
    assert (versus["baseline"], versus["metric"], versus["seeds"]) == ("ce", "balanced_accuracy",
                                                                       SEEDS)
    assert versus["draws"] == 2000 and versus["reliable"] is False  # 2 seeds
    assert (round(versus["low"], 3), round(versus["high"], 3)) == (low, high)
    text = result.table()
    assert ("`vs baseline`: paired difference in balanced accuracy vs `ce`, 95% bootstrap "
            "interval over seeds and test images, 2,000 draws. With 2 seeds the interval is "
            "unreliable") in text


def test_saved_confusion_matrices_and_recalls_match_predictions(saved):
    directory, _ = saved
    stored = np.load(os.path.join(directory, "predictions.npz"))
    with open(os.path.join(directory, "metrics.json")) as f:
        saved_json = json.load(f)
    assert len(saved_json["runs"]) == 4
    for run in saved_json["runs"]:
        figures = sklearn_figures(stored["y_true"], stored[f"{run['method']}/seed{run['seed']}"])
        np.testing.assert_array_equal(run["report"]["confusion_matrix"],
                                      figures["confusion_matrix"])
        recall = run["report"]["per_class_recall"]
        np.testing.assert_allclose([recall[c] for c in ("head", "middle", "tail")],
                                   figures["recall"], atol=1e-9)


def test_save_writes_every_file(result, saved):
    directory, paths = saved
    expected = {"metrics.json", "report.md", "predictions.npz", "class_distribution.png",
                "per_class_recall.png", "confusion_ce.png", "confusion_reweight.png",
                "summary.csv", "per_class.csv", "predictions.csv", "manifest.json",
                "reliability.png"}
    assert set(paths) == expected
    for name in expected:
        assert os.path.getsize(os.path.join(directory, name)) > 0
    for name in expected:
        if name.endswith(".png"):
            with open(os.path.join(directory, name), "rb") as f:
                assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(directory, "metrics.json")) as f:
        saved_json = json.load(f)
    assert saved_json["dataset"]["name"] == "tiny"
    assert saved_json["settings"]["learning_rate"] == 1e-2
    assert set(saved_json["summary"]) == {"ce", "reweight"}
    versus = saved_json["versus_baseline"]
    assert list(versus) == ["reweight"] and versus["reweight"]["baseline"] == "ce"
    assert versus["reweight"] == json.loads(json.dumps(result.versus_baseline()["reweight"]))
    assert saved_json["settings"]["baseline"] == "ce"
    assert saved_json["settings"]["main_metric"] == "balanced_accuracy"
    with open(os.path.join(directory, "report.md"), encoding="utf-8") as f:
        report = f.read()
    assert "# Comparison on tiny" in report
    assert result.table() in report
    assert result.per_class_recall_table() in report
    assert "| tail | 2 | 4 | 6 |" in report  # class counts: train / val / test
    assert "epochs: 1, batch size: 8" in report and "learning rate 0.01" in report
    assert "seeds: [0, 1]" in report
    for name in ("class_distribution.png", "per_class_recall.png", "confusion_ce.png",
                 "reliability.png"):
        assert f"({name})" in report
    assert "## Calibration" in report
    assert runs.report.calibration_table(result) in report


def test_to_json_is_strict_json(result):
    text = json.dumps(result.to_json(), allow_nan=False)
    assert json.loads(text)["settings"]["backbone"] == "model_fn('small_cnn', width=4, depth=2)"
    default = compare(tiny_dataset(), "ce", epochs=1, batch_size=8, progress=False)
    assert default.settings["backbone"] == "small_cnn"


def test_table_options(result):
    header, rows = parse_table(result.table(metrics=["accuracy"], digits=2))
    assert header == ["method", "accuracy", "vs baseline"]
    assert re.fullmatch(r"\d\.\d{2} ± \d\.\d{2}", rows["ce"]["accuracy"])
    assert re.fullmatch(r"[+\u2212]\d\.\d{2} \[[+\u2212]\d\.\d{2}, [+\u2212]\d\.\d{2}\]",
                        rows["reweight"]["vs baseline"])
    plain = result.table(metrics=["accuracy"], versus_baseline=False)
    assert parse_table(plain)[0] == ["method", "accuracy"] and "vs baseline" not in plain
    with pytest.raises(ValueError, match="confusion_matrix"):
        result.table(metrics=["confusion_matrix"])
    with pytest.raises(ValueError, match="nope"):
        result.table(metrics=["nope"])


def test_single_seed_shows_no_std_and_is_deterministic():
    dataset = tiny_dataset()
    first = compare(dataset, "ce", backbone=TINY_MODEL, epochs=1, seeds=[3], batch_size=8,
                    progress=False)
    again = compare(dataset, "ce", backbone=TINY_MODEL, epochs=1, seeds=[3], batch_size=8,
                    progress=False)
    np.testing.assert_array_equal(first.probabilities[("ce", 3)], again.probabilities[("ce", 3)])
    _, rows = parse_table(first.table())
    assert re.fullmatch(r"-?\d\.\d{3}", rows["ce"]["balanced_accuracy"])
    assert first.summary()["ce"]["balanced_accuracy"]["std"] is None


def test_progress_bar_shows_the_epoch_each_run_has_reached(capsys):
    compare(tiny_dataset(), "ce", backbone=TINY_MODEL, epochs=2, seeds=[0], batch_size=8)
    err = capsys.readouterr().err
    assert "ce, seed 0, epoch 1/2, val loss" in err and "ce, seed 0, epoch 2/2" in err
    compare(tiny_dataset(), "ce", backbone=TINY_MODEL, epochs=1, seeds=[0], batch_size=8,
            progress=False)
    assert capsys.readouterr().err == ""


def test_same_method_with_other_parameters_gets_a_label():
    dataset = tiny_dataset()
    result = compare(dataset, [methods.get("reweight"),
                               methods.get("reweight", weighting="sqrt_inverse")],
                     backbone=TINY_MODEL, epochs=1, batch_size=8, progress=False)
    assert result.methods == ["reweight", "reweight(weighting='sqrt_inverse')"]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 0}, ValueError, "epochs=0"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"seeds": []}, ValueError, "non-empty"),
        ({"seeds": [0, 0]}, ValueError, "distinct"),
        ({"seeds": 0}, TypeError, "seeds"),
        ({"seeds": [0.5]}, TypeError, "seeds"),
        ({"seeds": [-1]}, ValueError, "seeds=-1"),
        ({"methods": ["nope"]}, ValueError, r"registered method name, one of \[.*'ce'.*'reweight'"),
        ({"methods": []}, ValueError, "at least one method"),
        ({"methods": ["ce", "ce"]}, ValueError, "duplicates"),
        ({"backbone": "nope"}, ValueError, "small_cnn"),
        ({"backbone": 3}, TypeError, "backbone"),
        ({"batch_size": 0}, ValueError, "batch_size=0"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate=0.0"),
        ({"dataset": 42}, TypeError, "ImageDataset"),
        ({"dataset": "no-such-data"}, ValueError, "no-such-data"),
        ({"baseline": "reweight"}, ValueError,
         r"`baseline`.*one of the compared methods \['ce'\]. Received: baseline='reweight'"),
        ({"main_metric": "f2"}, ValueError,
         r"`main_metric`.*'balanced_accuracy'.*Received: main_metric='f2'"),
        ({"main_metric": "confusion_matrix"}, ValueError, "main_metric='confusion_matrix'"),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    arguments = {"dataset": tiny_dataset(), "methods": ["ce"], "epochs": 1, "progress": False,
                 **kwargs}
    with pytest.raises(error, match=message):
        compare(**arguments)


def test_public_api():
    assert experiment.compare is compare is runs.compare
    assert DEFAULT_METRICS[0] == "balanced_accuracy"


def test_table_rows_bold_best_and_column_names_match_the_summary(result):
    from kerasimb.utils.formatting import format_stat

    summary = result.summary(["mcc"])
    first, second = result.methods[:2]
    text = result.table(["mcc"], rows=[("Row 2", second), ("Row 1", first)], bold_best=True,
                        corner="", column_names={"mcc": "MCC"})
    lines = text.splitlines()
    assert lines[0] == "|  | MCC | vs baseline |"
    means = {label: summary[label]["mcc"]["mean"] for label in (first, second)}
    best = max(means.values())
    versus = {first: "baseline",
              second: runs.report.versus_baseline_text(result.versus_baseline()[second])}
    for line, (name, label) in zip(lines[2:4], [("Row 2", second), ("Row 1", first)]):
        cell = format_stat(summary[label]["mcc"])
        expected = f"**{cell}**" if means[label] == best else cell
        assert line == f"| {name} | {expected} | {versus[label]} |"
    with pytest.raises(ValueError, match="argument `rows`"):
        result.table(["mcc"], rows=[("x", "not-a-method")])


def test_format_stat():
    from kerasimb.utils.formatting import format_stat

    assert format_stat({"mean": 0.25, "std": 0.125}) == "0.250 ± 0.125"
    assert format_stat({"mean": None, "std": None}) == "n/a"


def test_compare_builds_under_the_policy_and_strategy():
    import keras
    import tensorflow as tf

    seen = []

    def recording_model(input_shape, num_classes):
        seen.append((keras.config.dtype_policy().name, tf.distribute.get_strategy()))
        return TINY_MODEL(input_shape, num_classes)

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    result = compare(tiny_dataset(), ["ce"], backbone=recording_model, epochs=1, seeds=[0],
                     batch_size=8, progress=False, mixed_precision="mixed_bfloat16",
                     distribute=strategy, jit_compile=False)
    assert [(policy, s is strategy) for policy, s in seen] == [("mixed_bfloat16", True)]
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards
    assert result.settings["mixed_precision"] == "mixed_bfloat16"
    assert result.settings["distribute"] == "OneDeviceStrategy(1 replicas)"
    assert result.settings["jit_compile"] is False
    probs = result.probabilities[("ce", 0)]
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_compare_rejects_bad_runtime_settings():
    with pytest.raises(ValueError, match="argument `mixed_precision`.*Received: mixed_precision='half'"):
        compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=1, mixed_precision="half")
    with pytest.raises(ValueError, match="argument `distribute`"):
        compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=1, distribute="gpus")
    with pytest.raises(ValueError, match="argument `jit_compile`"):
        compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=1, jit_compile="xla")


def test_baseline_and_main_metric_change_the_report_not_the_runs(tmp_path, monkeypatch):
    dataset = tiny_dataset()
    kwargs = dict(backbone=TINY_MODEL, epochs=1, seeds=[0, 1, 2], batch_size=8,
                  learning_rate=1e-2, progress=False, output_dir=tmp_path)
    first = compare(dataset, ["ce", "reweight"], **kwargs)
    first.save(tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    for name in ("ce", "reweight"):
        monkeypatch.setattr(type(methods.get(name)), "train", no_training)
    again = compare(dataset, ["ce", "reweight"], baseline="reweight", main_metric="mcc",
                    **kwargs)
    assert again.runs == first.runs
    assert (again.settings["baseline"], again.settings["main_metric"]) == ("reweight", "mcc")
    header, rows = parse_table(again.table())
    assert header[-1] == "vs baseline" and rows["reweight"]["vs baseline"] == "baseline"
    assert "paired difference in MCC vs `reweight`" in again.table()
    assert "unreliable" not in again.table()  # 3 seeds
    turned = again.versus_baseline()["ce"]
    forward = first.versus_baseline(baseline="ce", metric="mcc")["reweight"]
    assert turned["difference"] == pytest.approx(-forward["difference"])
    assert turned["reliable"] is True and turned["seeds"] == [0, 1, 2]
    # The report's total time is the runs' own training time, not the seconds it took to load them.
    trained = sum(run["seconds"] for run in first.runs)
    assert again.settings["total_seconds"] == pytest.approx(trained, abs=1e-3)
    assert again.settings["wall_seconds"] < trained
    assert f"total time: {trained:.1f} s of training (this call" in report_markdown(again)
    again.save(tmp_path)  # the same experiment: the folder takes it
    with open(os.path.join(tmp_path, "metrics.json")) as f:
        assert json.load(f)["versus_baseline"]["ce"]["metric"] == "mcc"
