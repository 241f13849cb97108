"""Smoke test of recipes/adauni.py: rows, the α plot, and a tiny run end to end."""

import os
import runpy
import sys

import pytest

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "adauni.py")


def _module():
    from importlib import util

    spec = util.spec_from_file_location("adauni_recipe", RECIPE)
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(argv):
    saved = sys.argv
    sys.argv = [RECIPE, *argv]
    try:
        runpy.run_path(RECIPE, run_name="__main__")
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = saved
    return 0


def test_rows_follow_the_paper_and_the_schedule_flag(tmp_path):
    from kerasimb import methods

    module = _module()
    args = module.build_parser().parse_args(["--schedule", "compounding"])
    rows = module.table_methods(args, "none")
    names = [m.name for _, m in rows]
    assert names[0] == "ce" and names[-3:] == ["paco-batch", "aduc", "aduc"]
    assert rows[-2][1].params["schedule"] == "compounding"
    assert rows[-2][1].params["augment"] == {"flip": None}
    assert (rows[-1][1].params["schedule"], rows[-1][1].params["alpha"]) == (None, 0.0)
    assert module.resolve_flip(args, "digits-lt") == "none"
    assert module.resolve_flip(args, "pneumoniamnist") == "horizontal_and_vertical"
    assert ("focal" in names) == ("focal" in methods.names())
    args = module.build_parser().parse_args(["--rows", "aduc", "ce", "--no-ablation"])
    assert [m.name for _, m in module.table_methods(args)] == ["ce", "aduc"]
    module.plot_alpha(5, [1.0, 0.8, 0.5, 0.2, 0.01], str(tmp_path / "alpha.png"))
    assert (tmp_path / "alpha.png").exists()


def test_unknown_row_is_rejected(capsys):
    assert _run(["--rows", "nope"]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_run_writes_report(tmp_path):
    out = tmp_path / "adauni"
    code = _run(["--dataset", "digits-lt", "--epochs", "2", "--seeds", "0", "--rows", "ce",
                 "paco-batch", "aduc", "--no-ablation", "--no-progress", "--batch-size", "64",
                 "--output", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    for text in ("| CE |", "| PaCo-style", "| AduC (AdUni) |", "alpha_schedule.png",
                 "ISIC2018"):
        assert text in report
    assert (out / "alpha_schedule.png").exists()
    assert (out / "compare" / "metrics.json").exists()
