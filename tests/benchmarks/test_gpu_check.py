"""benchmarks/gpu_check.py: one command gives the mixed-precision / XLA training table and the
perturbation's cost per device; run here on the CPU at toy sizes (no timing is asserted)."""

import importlib.util
import os
import sys

import pytest

_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, _DIR)
    spec = importlib.util.spec_from_file_location("gpu_check", os.path.join(_DIR, "gpu_check.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOY = ["--models", "small_cnn", "--perturbation-models", "small_cnn", "--image-size", "16",
       "--batch-size", "8", "--steps", "1", "--rounds", "1", "--images", "32"]


def test_without_a_gpu_nothing_is_measured(gpu_check, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_check.tf.config, "list_physical_devices", lambda kind=None: [])
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n")
    assert gpu_check.main(TOY + ["--write", "--results", str(results)]) == 0
    assert "No GPU found: nothing measured" in capsys.readouterr().out
    assert results.read_text() == "# Benchmark results\n"  # nothing written


@pytest.mark.slow  # builds and compiles four settings, XLA included (~40-110 s here)
def test_cpu_run_writes_one_section_with_every_setting(gpu_check, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(gpu_check.tf.config, "list_physical_devices", lambda kind=None: [])
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Other part\n\ntext\n")
    for _ in range(2):  # the second run replaces the section instead of adding another
        assert gpu_check.main(TOY + ["--cpu", "--write", "--results", str(results)]) == 0
    text = results.read_text()
    assert text.count("## GPU check") == 1 and text.startswith("# Benchmark results\n\n## Other")
    section = text.split("## GPU check", 1)[1]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| small_cnn")]
    settings = [cells[1].strip() for cells in rows if len(cells) == 10]
    assert settings == ["float32", "mixed_float16", "xla", "mixed+xla"]
    ratios = [float(cells[6]) for cells in rows if len(cells) == 10]
    assert ratios[0] == 1.0 and all(r > 0 for r in ratios)
    perturbed = [cells for cells in rows if len(cells) == 5]
    assert perturbed and all(float(cells[4]) > 0 for cells in perturbed)
    assert "### CPU (/CPU:0)" in section


def test_replace_section_keeps_what_follows(gpu_check):
    text = "# R\n\n## GPU check\n\nold\n\n## Later\n\nkept\n"
    out = gpu_check.replace_section(text, "## GPU check\n\nnew\n")
    assert out == "# R\n\n## GPU check\n\nnew\n\n## Later\n\nkept\n"
