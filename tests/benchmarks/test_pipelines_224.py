"""benchmarks/pipelines_224.py: rows side by side (smoke-sized), verdict arithmetic, and a skip
(not a failure) where the shared data folder is absent."""

import importlib.util
import os
import re
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import pipelines_224  # noqa: E402


def _run_all():
    spec = importlib.util.spec_from_file_location("run_all", os.path.join(BENCHMARKS, "run_all.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(section, name, ratio):
    return {"section": section, "name": name, "images_per_s": 1000.0 / ratio, "min": 1.0,
            "max": 2.0, "rates": [1000.0 / ratio], "time_ratio": ratio}


def test_missing_data_is_skipped_with_a_message(tmp_path):
    rows = pipelines_224.run(npz=str(tmp_path / "absent.npz"))
    assert [r["section"] for r in rows] == ["skipped"]
    text = pipelines_224.format_tables(rows)
    assert text.startswith("Skipped: data file") and "absent.npz" in text
    assert pipelines_224.verdicts(rows) == []


def test_verdicts_follow_the_targets():
    rows = [{"section": "data", "shape": [224, 224, 3]},
            _row("memory", pipelines_224.PLAIN, 1.0), _row("memory", pipelines_224.PLAIN_FLIP, 1.2),
            _row("memory", pipelines_224.PLAIN_WARP_FLIP, 9.0),
            _row("memory", pipelines_224.PLAIN_STANDARD, 2.5), _row("memory", pipelines_224.BMX, 0.9),
            _row("memory", pipelines_224.BMX_FLIP, 1.9), _row("files", pipelines_224.FILE_PLAIN, 1.0),
            _row("files", pipelines_224.FILE_STANDARD, 1.1), _row("files", pipelines_224.FILE_BMX, 2.0)]
    verdicts = pipelines_224.verdicts(rows)
    assert [ok for ok, _ in verdicts] == [True, False, True, None]
    assert "1.90x" in verdicts[0][1] and "without flips 0.90x" in verdicts[0][1]
    assert "2.50x" in verdicts[1][1]
    assert "1.20x" in verdicts[2][1] and "affine warp: 9.00x" in verdicts[2][1]
    assert "1.10x" in verdicts[3][1] and "2.00x" in verdicts[3][1]
    rows[2] = _row("memory", pipelines_224.PLAIN_FLIP, 1.31)
    assert pipelines_224.verdicts(rows)[2][0] is False


def test_quick_part_through_run_all(tmp_path):
    if not os.path.exists(pipelines_224.DEFAULT_NPZ):
        pytest.skip("../shared/data/ is absent")
    run_all = _run_all()
    out = tmp_path / "RESULTS.md"
    code = run_all.main(["--quick", "--in-process", "--parts", "pipelines_224", "--output", str(out)])
    text = out.read_text(encoding="utf-8")
    assert code == 0, text
    assert "## Input pipelines at 224 px" in text
    tables = [line for line in text.splitlines() if line.startswith("| pipeline (")]
    assert len(tables) == 2  # in memory and file-backed
    names = re.findall(r"^\| (plain[^|]*|class[^|]*|Balanced[^|]*|files:[^|]*) \|", text, flags=re.M)
    assert names[:3] == [pipelines_224.PLAIN, pipelines_224.PLAIN_FLIP, pipelines_224.PLAIN_WARP_FLIP]
    assert pipelines_224.FILE_BMX in names
    ratios = re.findall(r"\| ([\d.]+)x \|$", text, flags=re.M)
    assert len(ratios) == 11 and ratios[0] == "1.00" and ratios[8] == "1.00"
    verdicts = re.findall(r"^- \*\*(PASS|FAIL)\*\* (.*)$", text, flags=re.M)
    assert len(verdicts) == 3 and all(re.search(r"\d+\.\d+x", line) for _, line in verdicts)
    assert re.search(r"^- 32 px PNG files: .*file-backed plain", text, flags=re.M)
