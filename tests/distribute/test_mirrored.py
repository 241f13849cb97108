"""tf.distribute: custom train steps, contrastive losses and pipelines under MirroredStrategy.

The strategy runs over two logical CPU devices, which must be configured before TensorFlow
initialises, so the training runs happen in one subprocess (mirrored_script.py) that trains
every case on one device and under `MirroredStrategy` and writes both results.

Tolerances: the test models have no dropout and no BatchNorm (under `MirroredStrategy`
BatchNorm statistics are per replica, not synchronised, so a BatchNorm model differs by more
than rounding: see the slow BatchNorm test). With the same global batches the two runs agree
to float rounding (weights within 1e-5 after two epochs of Adam). `fit` under a strategy opens
the training dataset twice (once to build the model symbolically), so pipelines that shuffle
instances with `reshuffle_each_iteration` (`ce`, `reweight`, the two-stage methods' stage 1,
`aduni`'s views) start from another shuffle order than on one device: those `compare` runs are
only checked within a loose tolerance; stateless samplers (`class-sampling`, `balanced-mixup`)
give the same batches and are checked to rounding.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from kerasimb.utils import runtime

SCRIPT = pathlib.Path(__file__).with_name("mirrored_script.py")
ROOT = SCRIPT.parents[2]


def _run_script(tmp_path, cases, *extra, timeout=900):
    output = tmp_path / "out.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(SCRIPT.parent)])}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(output), "--cases", ",".join(cases), *extra],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(output.read_text())


def _max_weight_difference(a, b):
    assert sorted(a) == sorted(b)
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)


def _assert_same_run(one, two, atol=1e-5):
    assert set(one["history"]) == set(two["history"])
    for key in one["history"]:
        np.testing.assert_allclose(two["history"][key], one["history"][key], rtol=1e-5,
                                   atol=atol, err_msg=key)
    np.testing.assert_allclose(two["probabilities"], one["probabilities"], atol=atol)
    if "weights" in one:
        assert _max_weight_difference(one["weights"], two["weights"]) < atol


def test_mirrored_matches_one_device(tmp_path):
    """Center-loss two-stage model (metric loss on the gathered batch, Wen's centre update from
    the global batch, then the stage-2 head retraining), AdUni with its queue (unified loss over the gathered batch, the queue
    filled from the gathered keys) and a sampler method through `compare`."""
    results = _run_script(tmp_path, ["model-center", "model-aduni-queue", "class-sampling"])
    for case, runs in results.items():
        assert runs["none"]["replicas"] in (1, "none"), case
        assert "2 replicas" in str(runs["mirrored"]["replicas"]) or runs["mirrored"][
            "replicas"] == 2, case
        _assert_same_run(runs["none"], runs["mirrored"])
    # The logged metric loss is the global batch's, not a replica's (nor R times it).
    center = results["model-center"]
    assert center["mirrored"]["history"]["metric_loss"][0] > 0


@pytest.mark.slow
def test_mirrored_matches_one_device_all_cases(tmp_path):
    exact = ["model-triplet", "model-supcon", "model-aduni", "balanced-mixup"]
    shuffled = ["ce", "reweight", "ce-crw", "center-crw", "aduni"]
    results = _run_script(tmp_path, exact + shuffled, timeout=1800)
    for case in exact:
        _assert_same_run(results[case]["none"], results[case]["mirrored"])
    for case in shuffled:  # other shuffle order (see the module docstring): same ballpark
        one, two = results[case]["none"], results[case]["mirrored"]
        np.testing.assert_allclose(two["history"]["loss"][-1], one["history"]["loss"][-1],
                                   rtol=0.1, err_msg=case)
        assert abs(two["balanced_accuracy"] - one["balanced_accuracy"]) <= 0.2, case


@pytest.mark.slow
def test_mirrored_with_batch_norm_is_close(tmp_path):
    """Per-replica BatchNorm statistics: close to, not equal to, one device."""
    results = _run_script(tmp_path, ["model-center", "class-sampling"], "--batch-norm")
    for case, runs in results.items():
        one, two = runs["none"], runs["mirrored"]
        np.testing.assert_allclose(two["history"]["loss"], one["history"]["loss"], rtol=0.1,
                                   err_msg=case)


def test_tpu_without_tpu_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no TPU was found.*Received: distribute='tpu'"):
        runtime.make_strategy("tpu")


def test_multiworker_without_tf_config_is_one_worker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    code = (
        "import tensorflow as tf\n"
        "from kerasimb.utils import runtime\n"
        "s = runtime.make_strategy('multiworker')\n"
        "assert runtime.make_strategy('multiworker') is s\n"
        "print(isinstance(s, tf.distribute.MultiWorkerMirroredStrategy), "
        "s.num_replicas_in_sync, s.extended._num_workers)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "1", "1"]


def test_replica_helpers_outside_a_strategy():
    assert runtime.replicas_in_sync() == 1
    assert float(runtime.scale_for_replicas(3.0)) == 3.0
    assert float(runtime.unscale_for_replicas(3.0)) == 3.0
    a, b = runtime.global_batch(np.ones((2, 3), "float32"), np.arange(2))
    assert a.shape == (2, 3) and list(np.asarray(b)) == [0, 1]


def test_with_data_sharding_sets_data_policy():
    ds = runtime.with_data_sharding(tf.data.Dataset.range(6).batch(2))
    policy = ds.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA
    assert [list(b.numpy()) for b in ds] == [[0, 1], [2, 3], [4, 5]]
