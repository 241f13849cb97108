"""`kerasimb tune` and `kerasimb reproduce`: argument errors (one line, exit 2) and tiny
end-to-end runs."""

import os
import socket

import pytest

from kerasimb.cli.main import main


@pytest.mark.parametrize("argv, message", [
    (["tune", "--methods", "nope"], "argument --methods: unknown method(s) ['nope']"),
    (["tune", "--methods", "ce", "ce"], "argument --methods: a method is named twice"),
    (["tune", "--max-trials", "0"], "argument --max-trials: expected an integer >= 1"),
    (["tune", "--seeds", "0", "1"], "argument --seeds: tune takes one seed"),
    (["tune", "--tuner", "grid"], "Invalid value received for argument `tuner`"),
    (["tune", "--objective", "loss"], "Invalid value received for argument `objective`"),
    (["tune", "--widths", "0"], "argument --widths: expected an integer >= 1"),
    (["tune", "--dataset", "nope"], "argument --dataset"),
    (["reproduce", "--budget", "huge"], "argument --budget: invalid choice: 'huge'"),
    (["reproduce", "--recipes", "nope"], "argument --recipes: unknown recipe(s) ['nope']"),
    (["reproduce", "--recipes", "tune"], "argument --recipes: unknown recipe(s) ['tune']"),
    (["reproduce", "--timeout", "0"], "argument --timeout: expected a finite number > 0"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_tune_accepts_modifier_names(capsys):
    # fails later, on the seeds, not on the names
    assert main(["tune", "--methods", "ce+perturb", "focal", "--seeds", "0", "1"]) == 2
    assert "tune takes one seed" in capsys.readouterr().err


WORKER = {"KERASTUNER_TUNER_ID": "tuner1", "KERASTUNER_ORACLE_IP": "127.0.0.1",
          "KERASTUNER_ORACLE_PORT": "8000"}


@pytest.mark.parametrize("environ, argv, message", [
    ({"KERASTUNER_TUNER_ID": "tuner1"}, [],
     "environment variables KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT: not set or empty "
     "(while KERASTUNER_TUNER_ID='tuner1' is set); a distributed search needs all three"),
    ({**WORKER, "KERASTUNER_ORACLE_PORT": "http"}, [],
     "environment variable KERASTUNER_ORACLE_PORT: expected a port number from 1 to 65535. "
     "Received: KERASTUNER_ORACLE_PORT='http'"),
    ({**WORKER, "KERASTUNER_ORACLE_PORT": "70000"}, ["--output", "x"],
     "Received: KERASTUNER_ORACLE_PORT='70000'"),
    (WORKER, [], "argument --output: a distributed search (KERASTUNER_TUNER_ID=tuner1) needs "
                 "--output, one folder shared by the chief and every worker"),
    (WORKER, ["--output", "x", "--restart"],
     "argument --restart: only the chief may start a distributed search afresh (this process "
     "is worker tuner1)"),
])
def test_bad_distributed_settings_exit_2(environ, argv, message, monkeypatch, capsys):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["tune", "--methods", "ce", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_chief_whose_port_is_taken_exits_2(tmp_path, monkeypatch, capfd):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
        code = main(["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "--max-trials", "1", "--epochs", "1", "--widths", "4",
                     "--output", str(tmp_path / "out")])
    assert code == 2
    err = capfd.readouterr().err  # file descriptor 2 (TensorFlow may have said things first)
    assert "Failed to add port" not in err  # gRPC's own line is not shown
    assert err.endswith(f"kerasimb: error: the chief cannot listen on 127.0.0.1:{port} ("
                   f"KERASTUNER_ORACLE_IP='127.0.0.1', KERASTUNER_ORACLE_PORT={port}): the port "
                   "is in use, or the address is not one of this machine's\n"), err


@pytest.mark.slow
def test_tune_end_to_end_tiny(tmp_path, capsys):
    out = tmp_path / "tune"
    code = main(["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "focal", "--max-trials", "2", "--epochs", "1", "--widths", "4",
                     "--batch-size", "64", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Leaderboard (validation balanced_accuracy):" in text and "| rank |" in text
    for name in ("report.md", "tuning.json", "search_history.png"):
        assert os.path.isfile(out / name)
    # rerunning resumes: the finished trials are loaded, nothing new is searched
    assert main(["tune", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "focal", "--max-trials", "2", "--epochs", "1", "--widths", "4",
                     "--batch-size", "64", "--output", str(out)]) == 0


@pytest.mark.slow
def test_reproduce_end_to_end_with_failing_recipes(tmp_path, capsys):
    # --epochs is not a flag of reproduce: every recipe is given an impossible dataset instead
    code = main(["reproduce", "--dataset", "nope", "--recipes", "quadsnet", "aduni",
                 "--output", str(tmp_path)])
    assert code == 0
    text = (tmp_path / "report.md").read_text()
    assert text.count("**not run** (recipe failed: exit status 2: kerasimb: error: argument "
                      "--dataset") == 2, text
    assert str(tmp_path) not in text
