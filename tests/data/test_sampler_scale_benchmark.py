"""benchmarks/sampler_scale.py: `run` returns one well-formed row per (sampler, N).

Only correctness is checked (no timed assertion: the machine is shared); the 1e6 figures come
from running the benchmark itself.
"""

import importlib.util
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "sampler_scale.py")


def _module():
    spec = importlib.util.spec_from_file_location("sampler_scale", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_rows_and_table():
    bench = _module()
    rows = bench.run(num_labels=(2000, 500), samplers=("class-sampled",), batch_size=8,
                     batches=1, num_files=3, image_size=8)
    assert [r["num_labels"] for r in rows] == [500, 2000]  # increasing N
    assert rows[0]["index_ratio"] is None and rows[1]["index_ratio"] is not None
    for row in rows:
        assert row["sampler"] == "class-sampled"
        assert row["setup_s"] > 0 and row["batch_ms"] > 0 and row["tracemalloc_peak_mb"] > 0
    table = bench.format_table(rows)
    assert table.count("\n") == 3 and "| class-sampled | 2,000 |" in table


def test_labels_are_long_tailed_and_complete():
    bench = _module()
    y = bench.make_labels(10**4, num_classes=10, imbalance_ratio=100.0)
    counts = np.bincount(y)
    assert len(y) == 10**4 and len(counts) == 10 and counts.min() >= 1
    # exponential profile: n_j / n_0 = 100^(-j/9), to within the rounding of each count
    np.testing.assert_allclose(counts[1:] / counts[0], 100.0 ** (-np.arange(1, 10) / 9),
                               rtol=0.05, atol=2 / counts[0])
