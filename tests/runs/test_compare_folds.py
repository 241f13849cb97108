"""`compare(folds=, fold_as_test=, test_dataset=)`: one run per fold, each validated (or tested)
on its own fold; per-fold and median figures recomputed from the stored predictions; resuming;
the external test set; every bad input refused before training."""

import json
import os

import numpy as np
import pytest

from kerasimb import methods
from kerasimb.data import ImageDataset
from kerasimb.metrics import report as metrics_report
from kerasimb.models import model_fn
from kerasimb.runs import RunStore, compare
from kerasimb.runs.compare import EXTERNAL_ARRAY

TINY_MODEL = model_fn("small_cnn", width=4, depth=2)
METRICS = ("balanced_accuracy", "macro_f1", "mcc", "accuracy")


def tiny_dataset(seed=0, sizes=([9, 6, 4], [3, 2, 2], [4, 4, 3]), shape=(8, 8, 1),
                 names=("head", "middle", "tail"), name="tiny"):
    """Images whose stripe position is the class; pixel (0, 0) holds a running id (the
    pooled index) so that splits can be traced."""
    rng = np.random.default_rng(seed)
    start = [0]

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y),) + shape).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 2 * c: 2 * c + 3, 0] += 170
        x[:, 0, 0, 0] = np.arange(start[0], start[0] + len(y))
        start[0] += len(y)
        return x, y

    return ImageDataset(split(sizes[0]), split(sizes[1]), split(sizes[2]), list(names), name=name)


def ids(images):
    return images[:, 0, 0, 0].astype(int)


class Spy:
    """Wraps a method's `train` to record each call's dataset and seed."""

    def __init__(self, name, fail=False):
        self.method, self.calls, self.fail = methods.get(name), [], fail
        original = self.method.train

        def train(dataset, model_fn, *args, seed=0, **kwargs):
            if self.fail:
                raise AssertionError("trained although every run was finished")
            self.calls.append((dataset, seed))
            return original(dataset, model_fn, *args, seed=seed, **kwargs)

        self.method.train = train


def run_compare(spies, output_dir, **kwargs):
    return compare(kwargs.pop("dataset", None) or tiny_dataset(), [s.method for s in spies],
                   backbone=TINY_MODEL, epochs=1, batch_size=8, learning_rate=1e-2,
                   progress=False, output_dir=output_dir, **kwargs)


@pytest.fixture(scope="module")
def kfold(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kfold")
    spy = Spy("ce")
    external = tiny_dataset(seed=5, sizes=([3, 3, 3], [1, 1, 1], [5, 4, 6]), name="external")
    result = run_compare([spy], folder, folds=3, seeds=[7], test_dataset=external)
    result.save(folder)
    return {"folder": folder, "spy": spy, "result": result, "external": external}


def test_one_run_per_fold_each_validated_on_its_fold(kfold):
    dataset, calls = tiny_dataset(), kfold["spy"].calls
    assert len(calls) == 3 and [seed for _, seed in calls] == [7, 7, 7]
    pooled = set(ids(dataset.train[0])) | set(ids(dataset.val[0]))
    vals = [set(ids(ds.val[0])) for ds, _ in calls]
    assert set().union(*vals) == pooled and sum(map(len, vals)) == len(pooled)
    for ds, _ in calls:
        assert set(ids(ds.train[0])) == pooled - set(ids(ds.val[0]))
        np.testing.assert_array_equal(ds.test[1], dataset.test[1])  # the fixed test split
        for part in (ds.val[1], ds.train[1]):  # stratified: every class in every part
            assert set(part.tolist()) == {0, 1, 2}
    runs_ = kfold["result"].runs
    assert [run["seed"] for run in runs_] == ["fold0", "fold1", "fold2"]
    assert [run["fold"] for run in runs_] == [0, 1, 2]
    assert sorted(os.listdir(kfold["folder"] / "runs" / "ce")) == [
        f"fold{i}.{ext}" for i in range(3) for ext in ("json", "npz")]


def test_per_fold_figures_and_median_recomputed_from_stored_predictions(kfold):
    dataset, store = tiny_dataset(), RunStore(kfold["folder"])
    saved = json.loads((kfold["folder"] / "metrics.json").read_text())
    values = {m: [] for m in METRICS}
    for i, run in enumerate(saved["runs"]):
        with np.load(store.paths("ce", f"fold{i}")[1]) as arrays:
            probabilities = arrays["probabilities"]
        expected = metrics_report(dataset.test[1], probabilities)
        for m in METRICS:
            assert run["report"][m] == pytest.approx(expected[m], abs=1e-9)
            values[m].append(expected[m])
    for m in METRICS:
        assert saved["median"]["ce"][m] == pytest.approx(float(np.median(values[m])), abs=1e-9)
        assert saved["summary"]["ce"][m]["mean"] == pytest.approx(np.mean(values[m]), abs=1e-9)
    assert saved["settings"]["folds"] == 3 and saved["settings"]["fold_seed"] == 7
    text = (kfold["folder"] / "report.md").read_text()
    assert "mean ± sample standard deviation over 3 folds" in text
    assert "Median over the 3 folds:" in text
    median_row = f"| ce | {np.median(values['balanced_accuracy']):.3f} |"
    assert median_row in text


def test_external_results_equal_metrics_report_on_its_predictions(kfold):
    external, store = kfold["external"], RunStore(kfold["folder"])
    saved = json.loads((kfold["folder"] / "metrics.json").read_text())
    figures = []
    for i, run in enumerate(saved["runs"]):
        probabilities = store.load_arrays("ce", f"fold{i}")[EXTERNAL_ARRAY]
        assert probabilities.shape == (len(external.test[1]), 3)
        expected = metrics_report(external.test[1], probabilities)
        for m in METRICS:
            assert run["external_report"][m] == pytest.approx(expected[m], abs=1e-9)
        figures.append(expected["balanced_accuracy"])
    assert saved["external"]["dataset"]["name"] == "external"
    assert saved["external"]["summary"]["ce"]["balanced_accuracy"]["mean"] == pytest.approx(
        np.mean(figures), abs=1e-9)
    assert saved["external"]["median"]["ce"]["balanced_accuracy"] == pytest.approx(
        float(np.median(figures)), abs=1e-9)
    text = (kfold["folder"] / "report.md").read_text()
    assert "## External test set" in text and "`external` (15 images" in text


def test_resuming_loads_every_fold_and_other_fold_settings_are_refused(kfold):
    spy = Spy("ce", fail=True)
    again = run_compare([spy], kfold["folder"], folds=3, seeds=[7],
                        test_dataset=kfold["external"])
    assert [r["report"] for r in again.runs] == [r["report"] for r in kfold["result"].runs]
    with pytest.raises(ValueError, match="folds"):  # the manifest names what differs
        run_compare([spy], kfold["folder"], folds=2, seeds=[7], test_dataset=kfold["external"])
    with pytest.raises(ValueError, match="fold_as_test"):
        run_compare([spy], kfold["folder"], folds=3, seeds=[7], fold_as_test=True,
                    test_dataset=kfold["external"])
    with pytest.raises(ValueError, match="folds"):
        run_compare([spy], kfold["folder"], seeds=[7], test_dataset=kfold["external"])


def test_fold_as_test_scores_each_held_out_fold(tmp_path):
    dataset = tiny_dataset()
    spies = [Spy("ce"), Spy("reweight")]
    result = run_compare(spies, tmp_path, folds=3, fold_as_test=True)
    pooled = np.concatenate([ids(dataset.train[0]), ids(dataset.val[0]), ids(dataset.test[0])])
    labels = np.concatenate([dataset.train[1], dataset.val[1], dataset.test[1]])
    tests = [ds.test for ds, _ in spies[0].calls]
    assert sorted(np.concatenate([ids(x) for x, _ in tests]).tolist()) == sorted(pooled.tolist())
    np.testing.assert_array_equal(pooled, np.arange(len(pooled)))  # ids are pooled positions
    for i, (x, y) in enumerate(tests):  # labels travel with their images
        np.testing.assert_array_equal(y, labels[ids(x)])
        val = spies[0].calls[i][0].val[0]
        assert set(ids(val)) == set(ids(tests[(i + 1) % 3][0]))
    store = RunStore(tmp_path)
    differences = []
    for i, (_, y) in enumerate(tests):
        figures = {}
        for label in ("ce", "reweight"):
            with np.load(store.paths(label, f"fold{i}")[1]) as arrays:
                expected = metrics_report(y, arrays["probabilities"])
            run = next(r for r in result.runs if r["method"] == label and r["fold"] == i)
            assert run["report"]["balanced_accuracy"] == pytest.approx(
                expected["balanced_accuracy"], abs=1e-9)
            figures[label] = expected["balanced_accuracy"]
        differences.append(figures["reweight"] - figures["ce"])
    versus = result.versus_baseline()["reweight"]  # paired by fold, each on its own labels
    assert versus["seeds"] == ["fold0", "fold1", "fold2"]
    assert versus["difference"] == pytest.approx(np.mean(differences), abs=1e-9)
    result.save(tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "fold i is the test set" in text and "vs baseline" in text
    assert "Figures on each fold's held-out test fold, mean ± sample standard deviation over 3 " \
        "folds." in text
    with np.load(tmp_path / "predictions.npz") as arrays:
        for i, (_, y) in enumerate(tests):
            np.testing.assert_array_equal(arrays[f"y_true/fold{i}"], y)


@pytest.mark.parametrize("kwargs, message", [
    ({"folds": 1}, r"argument `folds`.*Received: folds=1"),
    ({"folds": 7}, r"argument `folds`.*at most 6 folds.*class 'tail': 6 images.*folds=7"),
    ({"folds": 10, "fold_as_test": True},
     r"argument `folds`.*at most 9 folds.*class 'tail': 9 images.*folds=10"),
    ({"fold_as_test": True}, r"argument `fold_as_test`.*Received: fold_as_test=True"),
    ({"folds": 2, "fold_as_test": True}, r"argument `folds`.*at least 3.*folds=2"),
    ({"folds": 3, "seeds": [0, 1]}, r"argument `seeds`.*single seed.*seeds=\[0, 1\]"),
    ({"test_dataset": tiny_dataset(names=("a", "b", "c"), name="other")},
     r"argument `test_dataset`.*test_dataset='other' with classes \['a', 'b', 'c'\]"),
    ({"test_dataset": tiny_dataset(shape=(10, 10, 1), name="big")},
     r"argument `test_dataset`.*shape \(8, 8, 1\).*test_dataset='big'.*\(10, 10, 1\)"),
])
def test_bad_input_is_refused_before_training(kwargs, message, tmp_path):
    spy = Spy("ce", fail=True)
    with pytest.raises(ValueError, match=message):
        run_compare([spy], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out" / "runs").exists()
