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


@pytest.mark.parametrize("flags, message", [
    (["--baseline", "focal"], "kerasimb: error: argument --baseline: expected one of the "
                              "compared methods ce, reweight, received 'focal'"),
    (["--main-metric", "f2"], "kerasimb: error: argument --main-metric: expected one of "
                              "balanced_accuracy, macro_f1, mcc, quadratic_kappa, "
                              "smallest_class_recall, accuracy, auc, kendall_tau, received 'f2'"),
])
def test_bad_baseline_or_main_metric_is_one_line_before_training(flags, message, capsys,
                                                                 tmp_path):
    assert main(["compare", "--methods", "ce", "reweight", "--output", str(tmp_path / "out"),
                 *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == message and captured.out == ""
    assert not (tmp_path / "out").exists()  # nothing loaded, nothing trained


def test_baseline_and_main_metric_flags_reach_the_report(tmp_path):
    output = tmp_path / "run"
    argv = ["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
            "reweight", "--epochs", "1", "--seeds", "0", "1", "--batch-size", "64", "--output",
            str(output), "--no-progress", "--baseline", "reweight", "--main-metric", "mcc"]
    assert main(argv) == 0
    saved = json.loads((output / "metrics.json").read_text())
    assert (saved["settings"]["baseline"], saved["settings"]["main_metric"]) == ("reweight", "mcc")
    assert list(saved["versus_baseline"]) == ["ce"]
    report = (output / "report.md").read_text()
    assert "| vs baseline |" in report and "| baseline |" in report
    assert "paired difference in MCC vs `reweight`" in report
    assert "With 2 seeds the interval is unreliable" in report


def test_main_metric_help_names_every_scalar_metric(capsys):
    from kerasimb.metrics import SCALAR_METRICS

    assert main(["compare", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    start = out.rindex("--main-metric KEY")  # its help, after the usage line
    help_text = out[start:out.index("--recalibrate-bn", start)]
    assert all(key in help_text for key in SCALAR_METRICS), help_text
    assert "--baseline NAME" in out and "(default: the first of --methods)" in out
