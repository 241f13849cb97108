"""`kerasimb compare`: `--methods ce,quadsnet-margin` equals the space-separated form; a tiny
run end to end."""

import json

import pytest

from kerasimb.cli.main import main


def test_comma_separated_methods_run_as_separate_methods(tmp_path):
    output = tmp_path / "run"
    assert main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods",
                     "ce,quadsnet-margin", "--epochs", "1", "--seeds", "0", "--batch-size", "64",
                     "--output", str(output), "--no-progress"]) == 0
    settings = json.loads((output / "metrics.json").read_text())["settings"]
    assert list(settings["methods"]) == ["ce", "quadsnet-margin"]


def test_comma_form_still_checks_each_name(capsys):
    assert main(["compare", "--dataset", "digits-lt", "--methods", "ce,nope", "reweight"]) == 2
    assert "unknown method(s) ['nope']" in capsys.readouterr().err
    assert main(["compare", "--dataset", "digits-lt", "--methods", "ce,ce"]) == 2
    assert "a method is named twice" in capsys.readouterr().err


@pytest.mark.slow
def test_issue_command_with_quadsnet_backbone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--methods", "ce,quadsnet-margin", "--backbone", "quadsnet",
                     "--image-size", "16", "--epochs", "1", "--seeds", "0", "--no-progress",
                     "--output", "out"]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| quadsnet-margin |" in report and "| ce |" in report
