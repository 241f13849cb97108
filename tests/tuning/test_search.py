"""`tuning.search`: progress lines as trials finish, the CSV files beside `tuning.json`, the
report without local paths (and the quadratic kappa only for ordinal classes), the search
history's axes."""

import csv
import json
import os
import re

import numpy as np
import pytest
from sklearn import metrics as skm

from kerasimb import data, tuning
from kerasimb.tuning import search

LINE = re.compile(r"^trial (\d)/2: (ce|focal)( gamma=\S+)?, learning rate \S+, width 4 -> "
                  r"val balanced_accuracy (\d\.\d{4}) \(best so far (\d\.\d{4})\)$")


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def number(cell):
    return None if cell == "" else float(cell)


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits-lt", image_size=8)


def run_tune(digits, directory, **kwargs):
    return tuning.tune(digits, methods=["ce", "focal"], max_trials=2, epochs=1, batch_size=64,
                       widths=(4,), width=4, directory=str(directory), seed=0, **kwargs)


@pytest.fixture(scope="module")
def tuned(digits, tmp_path_factory):
    """A 2-trial search of digits-lt at 8 px, its printed lines, and the saved folder."""
    folder = tmp_path_factory.mktemp("tune")
    capture = tmp_path_factory.mktemp("out") / "stdout.txt"
    import contextlib

    with open(capture, "w") as f, contextlib.redirect_stdout(f):
        result = run_tune(digits, folder / "search")
    paths = result.save(str(folder))
    return result, capture.read_text().splitlines(), folder, paths


def test_progress_line_per_trial_with_the_best_so_far(tuned):
    result, lines, _, _ = tuned
    matches = [LINE.match(line) for line in lines]
    assert all(matches) and len(matches) == 2, lines
    assert [int(m.group(1)) for m in matches] == [1, 2]
    scores = [float(m.group(4)) for m in matches]
    assert [float(m.group(5)) for m in matches] == [scores[0], max(scores)]
    by_order = sorted(result.leaderboard, key=lambda r: r["order"])
    assert [f"{r['score']:.4f}" for r in by_order] == [m.group(4) for m in matches]
    assert [r["method"] for r in by_order] == [m.group(2) for m in matches]


def ours(text):
    """The printed lines, without Keras Tuner's own `Reloading Tuner from ...`."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("Reloading Tuner from"))


def test_progress_can_be_turned_off_and_a_resumed_search_says_so(tuned, digits, capsys):
    _, _, folder, _ = tuned
    run_tune(digits, folder / "search")  # resumes: both trials are finished
    out = ours(capsys.readouterr().out)
    assert re.fullmatch(r"resuming: 2/2 trials already finished \(best so far \d\.\d{4}\)\n",
                        out), out
    run_tune(digits, folder / "search", progress=False)
    assert ours(capsys.readouterr().out) == ""
    with pytest.raises(TypeError, match="argument `progress`.*Received: progress='yes'"):
        run_tune(digits, folder / "search", progress="yes")


def test_show_progress_without_a_fixed_number_of_trials(digits, tmp_path, capsys):
    hm = tuning.ImbalanceHyperModel(digits, methods=["ce"], epochs=1, batch_size=64, width=4,
                                    widths=(4,))
    tuner = tuning.show_progress(tuning.make_tuner(hm, max_trials=1, directory=str(tmp_path)))
    tuner.search(verbose=0)
    out = capsys.readouterr().out
    assert re.fullmatch(r"trial 1: ce, learning rate \S+, width 4 -> val balanced_accuracy "
                        r"\d\.\d{4} \(best so far \d\.\d{4}\)\n", out), out
    with pytest.raises(ValueError, match="argument `total`"):
        tuning.show_progress(tuner, total=0)


def test_leaderboard_csv_matches_the_json(tuned):
    _, _, _, paths = tuned
    rows = read_csv(paths["leaderboard"])
    stored = json.load(open(paths["json"]))["leaderboard"]
    assert [r["trial_id"] for r in rows] == [r["trial_id"] for r in stored]
    for rank, (row, entry) in enumerate(zip(rows, stored), 1):
        assert int(row["rank"]) == rank and int(row["order"]) == entry["order"] + 1
        assert row["method"] == entry["method"]
        assert number(row["score"]) == entry["score"]
        assert number(row["learning_rate"]) == entry["learning_rate"]
        assert int(row["width"]) == entry["width"]
        for name, value in entry["metrics"].items():
            if name in ("val_quadratic_kappa", "val_kendall_tau"):  # digits: nominal classes
                assert name not in row
                continue
            assert number(row[name]) == value
        for name, value in entry["params"].items():
            assert number(row[f"{entry['method']}.{name}"]) == value


def test_test_figures_csv_match_the_json_and_sklearn(tuned):
    result, _, _, paths = tuned
    report = json.load(open(paths["json"]))["test_report"]
    (summary,) = read_csv(paths["summary"])
    assert summary["method"] == result.best["method"]
    assert "quadratic_kappa" not in summary and "kendall_tau" not in summary  # digits: nominal
    for key in ("balanced_accuracy", "macro_f1", "mcc", "accuracy"):
        assert number(summary[key]) == report[key]
    matrix = np.asarray(report["confusion_matrix"])
    y_true = np.repeat(np.arange(10), matrix.sum(axis=1))
    y_pred = np.concatenate([np.repeat(np.arange(10), row) for row in matrix])
    kwargs = dict(labels=list(range(10)), average=None, zero_division=np.nan)
    rows = read_csv(paths["per_class"])
    assert [r["class"] for r in rows] == list(report["per_class_recall"])
    assert [int(r["train_count"]) for r in rows] == result.settings["class_counts"]
    for key, fn in (("recall", skm.recall_score), ("precision", skm.precision_score),
                    ("f1", skm.f1_score)):
        got = np.array([np.nan if r[key] == "" else float(r[key]) for r in rows])
        np.testing.assert_allclose(got, fn(y_true, y_pred, **kwargs), atol=1e-12,
                                   equal_nan=True)


def test_report_has_no_local_paths_and_names_the_state_folder_relatively(tuned):
    _, _, folder, paths = tuned
    text = open(paths["report"], encoding="utf-8").read()
    assert str(folder) not in text and os.getcwd() not in text
    assert "- search state: `search/kerasimb/` in this folder" in text
    assert "quadratic_kappa" not in text and "kendall_tau" not in text
    for name in ("leaderboard.csv", "summary.csv", "per_class.csv", "tuning.json"):
        assert f"`{name}`" in text


def fake_result(ordinal, directory):
    rows = [{"trial_id": "0001", "order": 1, "status": "COMPLETED", "score": 0.75,
             "metrics": {"val_balanced_accuracy": 0.75, "val_mcc": 0.5,
                         "val_quadratic_kappa": 0.1}, "method": "focal",
             "params": {"gamma": 2.0}, "learning_rate": 1e-3, "width": None, "epochs": 3},
            {"trial_id": "0000", "order": 0, "status": "COMPLETED", "score": 0.5,
             "metrics": {"val_balanced_accuracy": 0.5, "val_mcc": 0.25}, "method": "ldam-drw",
             "params": {"max_margin": 0.5, "scale": 30.0}, "learning_rate": 1e-3,
             "width": None, "epochs": 1}]
    report = {"balanced_accuracy": 0.6, "mcc": 0.4, "quadratic_kappa": 0.3, "kendall_tau": 0.2,
              "accuracy": 0.7, "per_class_recall": {"g0": 0.5, "g1": 0.7},
              "confusion_matrix": [[1, 1], [3, 7]]}
    settings = {"dataset": "grades", "tuner": "hyperband", "max_trials": 10, "trials": 2,
                "methods": ["focal", "ldam-drw"], "backbone": "small_cnn",
                "objective": "balanced_accuracy", "epochs": 3, "batch_size": 8, "seed": 0,
                "directory": directory, "search_seconds": 1.0, "ordinal": ordinal,
                "class_counts": [20, 4]}
    return tuning.TuningResult(rows, report, settings, "grades: 2 classes")


def test_quadratic_kappa_in_the_tune_report_only_for_ordinal_classes(tmp_path):
    outside = str(tmp_path / "elsewhere" / "state")
    for ordinal in (True, False):
        out = tmp_path / f"ordinal_{ordinal}"
        paths = fake_result(ordinal, outside).save(str(out))
        text = open(paths["report"], encoding="utf-8").read()
        assert ("| quadratic_kappa | 0.3000 |" in text) is ordinal
        assert ("quadratic_kappa" in read_csv(paths["summary"])[0]) is ordinal
        assert "- search state: `state`, a folder outside this one" in text
        assert str(tmp_path) not in text
        columns = list(read_csv(paths["leaderboard"])[0])
        assert ("val_quadratic_kappa" in columns) is ordinal
    rows = read_csv(paths["leaderboard"])
    assert list(rows[0]) == ["rank", "trial_id", "order", "method", "focal.gamma",
                             "ldam-drw.max_margin", "ldam-drw.scale", "learning_rate", "width",
                             "epochs", "score", "val_balanced_accuracy", "val_mcc"]
    assert [r["focal.gamma"] for r in rows] == ["2.0", ""]
    assert [r["epochs"] for r in rows] == ["3", "1"]


def test_search_history_has_whole_trial_numbers_and_the_legend_beside_it(tmp_path, monkeypatch):
    drawn = []
    save = search.save_figure

    def recording(figure, path, dpi=120):
        drawn.append(figure)
        return save(figure, path, dpi)

    monkeypatch.setattr(search, "save_figure", recording)
    rows = [{"order": k, "score": s, "method": m} for k, (s, m) in
            enumerate([(0.2, "ce"), (0.5, "focal"), (0.4, "ce")])]
    search.plot_search_history(rows, str(tmp_path / "h.png"), "val balanced_accuracy")
    (figure,) = drawn
    figure.canvas.draw()
    ax = figure.axes[0]
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert sorted(x for c in ax.collections for x, _ in c.get_offsets()) == [1, 2, 3]
    legend = ax.get_legend()
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())


def test_tune_report_notes_a_balanced_test_split_and_a_single_class_model(tmp_path):
    result = fake_result(False, str(tmp_path / "state"))
    text = open(result.save(str(tmp_path / "a"))["report"], encoding="utf-8").read()
    assert "is balanced" not in text and "Warning" not in text  # test counts 2 and 10
    result.test_report["confusion_matrix"] = [[5, 0], [5, 0]]
    text = open(result.save(str(tmp_path / "b"))["report"], encoding="utf-8").read()
    assert ("**Warning:** the retrained `focal` model predicts a single class, `g0`, for every "
            "test image.") in text
    assert "The test split is balanced (5 images in every class)" in text


def test_a_finite_space_is_searched_once_per_configuration_then_the_search_says_so(
        digits, tmp_path, capsys):
    # ce (no hyperparameter) and cb-softmax (beta: 4 choices), one width, a fixed learning
    # rate: 5 configurations, fewer than max_trials
    result = tuning.tune(digits, methods=["ce", "cb-softmax"], max_trials=7, epochs=1,
                         batch_size=64, widths=(4,), width=4, learning_rates=None,
                         directory=str(tmp_path / "search"), seed=0, tuner="bayesian")
    out = capsys.readouterr().out
    configurations = [(r["method"], tuple(sorted(r["params"].items())))
                      for r in result.leaderboard]
    assert len(configurations) == 5 and len(set(configurations)) == 5
    assert sorted(b for m, p in configurations for _, b in p) == [0.9, 0.99, 0.999, 0.9999]
    assert result.settings["exhausted"] and not result.settings["distributed"]
    assert "The search space is exhausted: all 5 of its configurations were tried " \
           "(max_trials 7)." in out
    assert len([line for line in out.splitlines() if line.startswith("trial ")]) == 5
    text = open(result.save(str(tmp_path))["report"], encoding="utf-8").read()
    assert "- the search space is exhausted: every configuration was tried, 5 completed" in text
    assert "distributed" not in text
    assert "tuner_id" not in read_csv(tmp_path / "leaderboard.csv")[0]
    assert {r["tuner_id"] for r in result.leaderboard} == {"tuner0"}
