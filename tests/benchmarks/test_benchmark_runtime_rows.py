"""`benchmarks/quadsnet_throughput.run` and `benchmarks/perturbation.run`: one row per (model,
setting), ratios to float32 / to `model.predict` (smoke-sized)."""

import os
import sys

import keras
import pytest

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import perturbation  # noqa: E402
import quadsnet_throughput  # noqa: E402


def test_variant_settings():
    assert quadsnet_throughput.variant_settings("float32") == ("float32", False)
    assert quadsnet_throughput.variant_settings("xla") == ("float32", True)
    assert quadsnet_throughput.variant_settings("mixed_float16") == ("mixed_float16", False)
    policy, jit = quadsnet_throughput.variant_settings("mixed+xla")
    assert policy.startswith("mixed_") and jit
    with pytest.raises(ValueError, match="Invalid value received for argument `variants`"):
        quadsnet_throughput.variant_settings("fp8")


@pytest.mark.slow  # XLA compilation: about 30 s on 2 cores
def test_throughput_rows_side_by_side():
    rows = quadsnet_throughput.run(models=("small_cnn",), variants=("float32", "mixed_bfloat16",
                                                                    "xla"),
                                   image_size=16, batch_size=4, steps=1, warmup=1, rounds=1)
    assert [(r["model"], r["variant"], r["policy"], r["jit"]) for r in rows] == [
        ("small_cnn", "float32", "float32", False),
        ("small_cnn", "mixed_bfloat16", "mixed_bfloat16", False),
        ("small_cnn", "xla", "float32", True)]
    assert rows[0]["train_ratio_to_float32"] == 1.0 and rows[0]["infer_ratio_to_float32"] == 1.0
    for r in rows:
        assert r["train_images_per_s"] > 0 and r["infer_images_per_s"] > 0
        assert r["train_ratio_to_float32"] == pytest.approx(
            r["train_images_per_s"] / rows[0]["train_images_per_s"])
    assert keras.config.dtype_policy().name == "float32"  # restored
    text = quadsnet_throughput.table(rows)
    assert "| small_cnn | xla | float32 | on |" in text


@pytest.mark.slow
def test_perturbation_rows():
    rows = perturbation.run(models=("small_cnn",), images=8, batch_size=4, repeats=1,
                            eager=False)
    whats = [r["what"] for r in rows]
    assert whats[0] == "model.predict" and rows[0]["ratio_to_predict"] == 1.0
    assert "perturbed predict (tf.function + XLA)" in whats
    for r in rows:
        assert r["seconds"] > 0 and r["ratio_to_predict"] == pytest.approx(
            r["seconds"] / rows[0]["seconds"])
