"""benchmarks/run_all.py: the suite runs (smoke-sized) and RESULTS.md has the promised structure.

No timed assertion (the machine is shared): the checks are on the file's structure - the machine
and load lines, one table per part, ratios that parse as numbers - and on the verdict arithmetic,
re-derived by hand from fabricated rows.
"""

import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "run_all.py")


def _module():
    spec = importlib.util.spec_from_file_location("run_all", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MACHINE = {"cpu": "Test CPU", "cpu_count": 2, "nproc": 2, "python": "3.11", "tensorflow": "2.x",
           "keras": "3.x", "numpy": "2.x", "gpus": [], "platform": "Linux"}


def _tables(text):
    """Markdown tables of `text` as lists of rows (lists of cells), header first."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def _ratio_cells(table, column_name):
    index = table[0].index(column_name)
    assert set(table[1][index]) <= set("-:")  # the separator row
    return [float(re.fullmatch(r"(-?[\d.]+)x", row[index]).group(1)) for row in table[2:]]


def test_quick_pipelines_part_writes_results(tmp_path):
    run_all = _module()
    out = tmp_path / "RESULTS.md"
    code = run_all.main(["--quick", "--in-process", "--parts", "pipelines", "--output", str(out),
                         "--json", str(tmp_path / "rows.json")])
    text = out.read_text(encoding="utf-8")
    assert code == 0, text
    assert text.startswith("# Benchmark results\n")
    assert re.search(r"^\*\*Machine:\*\* .*\d+ CPUs \(nproc \d+\); GPU: .*TensorFlow [\d.]+", text,
                     flags=re.M)
    assert re.search(r"load average \(1, 5, 15 min\) before \[[\d., ]+\], after \[[\d., ]+\]", text)
    assert "## Input pipelines" in text and "## Training" not in text
    tables = _tables(text)
    pipes = next(t for t in tables if t[0][0] == "pipeline")
    names = [row[0] for row in pipes[2:]]
    assert names[:4] == ["plain instance (classification_dataset)",
                         "class sampling (sampled_dataset q=0)",
                         "Balanced-MixUp (balanced_mixup_dataset a=0.1)",
                         "Balanced-MixUp, Python generator"]
    measured = [row for row in pipes[2:] if "not measured" not in row[1]]
    ratios = [float(row[3].rstrip("x")) for row in measured]
    assert ratios[0] == 1.0 and all(r > 0 for r in ratios)
    fit = next(t for t in tables if t[0][0].startswith("model.fit epoch"))
    assert [row[0] for row in fit[2:]] == ["plain", "balanced-mixup"]
    # the three pipeline targets each get a verdict with a number in it
    verdicts = re.findall(r"^- \*\*(PASS|FAIL)\*\* (.*)$", text, flags=re.M)
    assert len(verdicts) == 3
    for _, line in verdicts:
        assert re.search(r"\d+\.\d+x", line)
    saved = json.loads((tmp_path / "rows.json").read_text(encoding="utf-8"))
    rows = saved["results"][0]["rows"]
    fit_rows = {r["name"]: r for r in rows if r["section"] == "fit"}
    plain, mixed = fit_rows["plain"]["times"], fit_rows["balanced-mixup"]["times"]
    # the fit ratio is the median of the rounds' paired ratios
    assert fit_rows["balanced-mixup"]["time_ratio"] == pytest.approx(
        statistics.median([m / p for m, p in zip(mixed, plain)]))
    assert saved["load_before"] is None or len(saved["load_before"]) == 3


def _fabricated_results():
    pipelines = [
        {"section": "data", "description": "synthetic", "num_examples": 100, "shape": [8, 8, 3],
         "dtype": "uint8", "class_counts": [90, 10], "batch_size": 4, "alpha": 0.1, "batches": 2,
         "repeats": 1},
        {"section": "pipeline", "name": "plain instance (classification_dataset)",
         "images_per_s": 1000.0, "min": 900.0, "max": 1100.0, "time_ratio": 1.0},
        {"section": "pipeline", "name": "Balanced-MixUp (balanced_mixup_dataset a=0.1)",
         "images_per_s": 800.0, "min": 700.0, "max": 900.0, "time_ratio": 1000.0 / 800.0},
        {"section": "pipeline", "name": "Balanced-MixUp, Python generator",
         "images_per_s": 200.0, "min": 150.0, "max": 250.0, "time_ratio": 5.0},
        {"section": "pipeline", "name": "imbalanced-learn BalancedBatchGenerator (RandomOverSampler)",
         "error": "ModuleNotFoundError: No module named 'imblearn'"},
        {"section": "fit", "name": "plain", "seconds": 2.0, "times": [2.0], "steps": 10,
         "time_ratio": 1.0},
        {"section": "fit", "name": "balanced-mixup", "seconds": 2.2, "times": [2.2], "steps": 10,
         "time_ratio": 1.1},
    ]
    training = [
        {"model": "quadsnet", "variant": v, "policy": p, "jit": v == "xla",
         "train_images_per_s": rate, "input": [32, 32, 1], "batch_size": 32, "steps": 5,
         "rounds": 3}
        for v, p, rate in (("float32", "float32", 100.0), ("mixed", "mixed_bfloat16", 50.0),
                           ("xla", "float32", 150.0))
    ]
    perturbation = [
        {"model": "small_cnn", "what": what, "seconds": s, "images": 100, "batch_size": 10,
         "repeats": 3}
        for what, s in (("model.predict", 1.0), ("perturbed predict (tf.function)", 2.5),
                        ("perturbed predict (tf.function + XLA)", 3.5))
    ]
    sampler = []
    for name, times in (("class-sampled", (0.001, 0.01, 0.1)), ("balanced-mixup", (0.001, 0.1))):
        for i, t in enumerate(times):
            n = 10 ** (3 + i)
            sampler.append({"sampler": name, "num_labels": n, "index_cpu_s": t, "setup_s": 0.5,
                            "setup_cpu_s": 0.4, "first_batch_s": 0.1, "batch_ms": 3.0, "batch_cpu_ms": 2.0,
                            "tracemalloc_peak_mb": n / 1e5, "rss_delta_mb": 1.0,
                            "index_ratio": None if i == 0 else t / times[i - 1],
                            "setup_ratio": None if i == 0 else 1.0,
                            "tracemalloc_ratio": None if i == 0 else 10.0,
                            "rss_ratio": None if i == 0 else 1.0})
    return [{"part": "pipelines", "rows": pipelines, "seconds": 1.0},
            {"part": "training", "rows": training, "seconds": 1.0},
            {"part": "perturbation", "rows": perturbation, "seconds": 1.0},
            {"part": "sampler_scale", "rows": sampler, "seconds": 1.0},
            {"part": "training", "error": "exit status 1: boom", "seconds": 1.0}]


def test_verdicts_follow_the_targets():
    run_all = _module()
    text = run_all.format_results(_fabricated_results(), MACHINE, [3.0, 2.0, 1.0],
                                  [2.5, 2.0, 1.0], "2026-01-01 00:00", 10.0, False, "cmd")
    verdicts = dict((line, status) for status, line in
                    re.findall(r"^- \*\*(PASS|FAIL|ERROR)\*\* (.*)$", text, flags=re.M))
    by_start = {line.split(" (")[0]: status for line, status in verdicts.items()}
    # 1000/800 = 1.25x <= 1.5; 800/200 = 4.0x < 5; 2.2/2.0 = 1.1 > 1.05; 2.5x <= 3
    assert by_start["Balanced-MixUp costs 1.25x the plain pipeline per image"] == "PASS"
    assert by_start["Balanced-MixUp is 4.0x faster than the Python generator"] == "FAIL"
    assert by_start["a model.fit epoch with Balanced-MixUp takes 1.100x a plain epoch"] == "FAIL"
    assert by_start["small_cnn: perturbed prediction takes 2.50x plain model.predict"] == "PASS"
    # sampler: 10x per 10x N is N^1.00 (linear, PASS); 100x per 10x N is N^2.00 (FAIL)
    sampler = {line.split(":")[0]: (status, line) for line, status in verdicts.items()
               if "per 10x N" in line}
    assert sampler["class-sampled"][0] == "PASS" and "N^1.00" in sampler["class-sampled"][1]
    assert "grows 10.0x, 10.0x per 10x N" in sampler["class-sampled"][1]
    assert sampler["balanced-mixup"][0] == "FAIL"
    exponent = math.log(0.1 / 0.001) / math.log(10**4 / 10**3)
    assert f"N^{exponent:.2f}" in sampler["balanced-mixup"][1]
    assert any(status == "ERROR" and "boom" in line for line, status in verdicts.items())
    # training: ratios to float32 (50/100, 150/100), no pass/fail target
    training = next(t for t in _tables(text) if t[0][:2] == ["model", "variant"])
    assert _ratio_cells(training, "x float32") == [1.0, 0.5, 1.5]
    perturbed = next(t for t in _tables(text) if t[0][:2] == ["model", "what"])
    assert _ratio_cells(perturbed, "x model.predict") == [1.0, 2.5, 3.5]
    assert "not measured: ModuleNotFoundError" in text
    assert "before [3.0, 2.0, 1.0], after [2.5, 2.0, 1.0]" in text


def test_a_failing_part_is_recorded_and_the_exit_status_says_so(tmp_path, monkeypatch):
    run_all = _module()

    def broken(quick):
        raise RuntimeError("no such device")

    monkeypatch.setitem(run_all.RUNNERS, "training", broken)
    out = tmp_path / "RESULTS.md"
    code = run_all.main(["--quick", "--in-process", "--parts", "training", "--output", str(out)])
    text = out.read_text(encoding="utf-8")
    assert code == 1
    assert "- **ERROR** training: RuntimeError: no such device" in text
    assert "Failed: RuntimeError: no such device" in text


def test_unknown_part_is_refused():
    run_all = _module()
    with pytest.raises(SystemExit):
        run_all.parse_args(["--parts", "everything"])


@pytest.mark.slow
def test_subprocess_quick_run_of_one_part(tmp_path):
    out = tmp_path / "RESULTS.md"
    proc = subprocess.run([sys.executable, _PATH, "--quick", "--parts", "perturbation",
                           "--output", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text(encoding="utf-8")
    assert "## Perturbed vs plain prediction" in text
    assert re.search(r"^- \*\*(PASS|FAIL)\*\* small_cnn: perturbed prediction takes [\d.]+x", text,
                     flags=re.M)
