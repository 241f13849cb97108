"""`kerasimb compare --methods ce,quadsnet-margin` (issue 5's spelling) equals the space-separated form."""

import json

import pytest

from kerasimb import cli


def test_comma_separated_methods_run_as_separate_methods(tmp_path):
    output = tmp_path / "run"
    assert cli.main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods",
                     "ce,quadsnet-margin", "--epochs", "1", "--seeds", "0", "--batch-size", "64",
                     "--output", str(output), "--no-progress"]) == 0
    settings = json.loads((output / "metrics.json").read_text())["settings"]
    assert list(settings["methods"]) == ["ce", "quadsnet-margin"]


def test_comma_form_still_checks_each_name(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--dataset", "digits-lt", "--methods", "ce,nope", "reweight"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown method(s) ['nope']" in err
    with pytest.raises(SystemExit):
        cli.main(["compare", "--dataset", "digits-lt", "--methods", "ce,ce"])
    assert "a method is named twice" in capsys.readouterr().err


@pytest.mark.slow
def test_issue_command_with_quadsnet_backbone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--methods", "ce,quadsnet-margin", "--backbone", "quadsnet",
                     "--image-size", "16", "--epochs", "1", "--seeds", "0", "--no-progress",
                     "--output", "out"]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| quadsnet-margin |" in report and "| ce |" in report
