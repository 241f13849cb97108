"""`kerasimb tune` and `kerasimb reproduce`: argument errors (exit 2) and tiny end-to-end runs."""

import os

import pytest

from kerasimb import cli


@pytest.mark.parametrize("argv, message", [
    (["tune", "--methods", "nope"], "argument --methods: unknown method(s) ['nope']"),
    (["tune", "--methods", "ce", "ce"], "argument --methods: a method is named twice"),
    (["tune", "--max-trials", "0"], "argument --max-trials: expected an integer >= 1"),
    (["tune", "--seeds", "0", "1"], "argument --seeds: tune takes one seed"),
    (["tune", "--tuner", "grid"], "argument --tuner: invalid choice: 'grid'"),
    (["tune", "--objective", "loss"], "argument --objective: invalid choice: 'loss'"),
    (["tune", "--widths", "0"], "argument --widths: expected integers >= 1"),
    (["tune", "--dataset", "nope"], "argument --dataset"),
    (["reproduce", "--budget", "huge"], "argument --budget: invalid choice: 'huge'"),
    (["reproduce", "--recipes", "nope"], "argument --recipes: unknown recipe(s) ['nope']"),
    (["reproduce", "--recipes", "tune"], "cannot be run by reproduce"),
    (["reproduce", "--timeout", "0"], "argument --timeout: expected a number > 0"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_tune_accepts_modifier_names(capsys):
    with pytest.raises(SystemExit) as info:  # fails later, on the seeds, not on the names
        cli.main(["tune", "--methods", "ce+perturb", "focal", "--seeds", "0", "1"])
    assert info.value.code == 2
    assert "tune takes one seed" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_end_to_end_tiny(tmp_path, capsys):
    out = tmp_path / "tune"
    code = cli.main(["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "focal", "--max-trials", "2", "--epochs", "1", "--widths", "4",
                     "--batch-size", "64", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Leaderboard (validation balanced_accuracy):" in text and "| rank |" in text
    for name in ("report.md", "tuning.json", "search_history.png"):
        assert os.path.isfile(out / name)
    # rerunning resumes: the finished trials are loaded, nothing new is searched
    assert cli.main(["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "focal", "--max-trials", "2", "--epochs", "1", "--widths", "4",
                     "--batch-size", "64", "--output", str(out)]) == 0


@pytest.mark.slow
def test_reproduce_end_to_end_with_a_missing_recipe(tmp_path, capsys, monkeypatch):
    from kerasimb import reproduce

    monkeypatch.setattr(reproduce, "available_recipes", lambda: {})
    code = cli.main(["reproduce", "--output", str(tmp_path)])
    assert code == 0
    text = (tmp_path / "report.md").read_text()
    assert text.count("**not run** (recipe missing") == len(reproduce.CLAIMS)
