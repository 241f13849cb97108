"""kerasimb.utils.runtime: precision policy, strategy and XLA settings, and their CLI flags."""


import keras
import pytest
import tensorflow as tf

from kerasimb.utils import runtime


def test_resolve_precision_names():
    assert runtime.resolve_precision(None) == "float32"
    for name in runtime.PRECISIONS:
        assert runtime.resolve_precision(name) == name
    expected = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    assert runtime.resolve_precision("auto") == expected


def test_resolve_precision_rejects_unknown():
    with pytest.raises(ValueError, match=r"argument `precision`.*Received: precision='float16'"):
        runtime.resolve_precision("float16")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_precision_policy_sets_and_restores(policy):
    before = keras.config.dtype_policy().name
    with runtime.precision_policy(policy) as name:
        assert name == policy
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
    assert keras.config.dtype_policy().name == before
    assert layer.compute_dtype == policy.split("_")[1]
    assert layer.variable_dtype == "float32"


def test_precision_policy_restores_after_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with runtime.precision_policy("mixed_bfloat16"):
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == before


def test_make_strategy():
    assert runtime.make_strategy(None) is None
    assert runtime.make_strategy("none") is None
    mirrored = runtime.make_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert runtime.make_strategy(mirrored) is mirrored
    with runtime.strategy_scope(mirrored):
        assert tf.distribute.get_strategy() is mirrored
    with runtime.strategy_scope(None):
        assert not tf.distribute.has_strategy()


def test_make_strategy_rejects_unknown():
    with pytest.raises(ValueError, match=r"argument `distribute`.*Received: distribute='gpu'"):
        runtime.make_strategy("gpu")


@pytest.mark.parametrize("value", ["auto", True, False])
def test_check_jit_compile_accepts(value):
    assert runtime.check_jit_compile(value) == value


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_check_jit_compile_rejects(value):
    with pytest.raises(ValueError, match="argument `jit_compile`"):
        runtime.check_jit_compile(value)


def test_multiworker_with_several_tasks_is_refused_at_once(monkeypatch):
    """Keras 3.15's fit cannot train under several workers (keras-team/keras#20585): the name
    'multiworker' is refused before anything is built, saying what works instead; one task (or
    no TF_CONFIG) is a single worker and trains."""
    import json as json_module

    from kerasimb.utils import runtime as runtime_module

    cluster = {"cluster": {"worker": ["localhost:1", "localhost:2"], "chief": ["localhost:3"]},
               "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json_module.dumps(cluster))
    monkeypatch.setattr(runtime_module, "_STRATEGIES", {})
    with pytest.raises(ValueError, match=r"names 3 tasks.*keras-team/keras#20585.*--shard K/N"):
        runtime_module.make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        runtime_module.make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json_module.dumps(
        {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}))
    runtime_module._check_single_worker()  # one task: accepted
