"""`MultiWorkerMirroredStrategy` with two local worker processes (TF_CONFIG on localhost ports).

Each worker runs the same seeded sampler; `fit` shards the input by DATA (kerasimb's pipelines
are in-memory / file-list samplers, see `utils.with_data_sharding`): every worker keeps its
half of each global batch, so the two workers together train on exactly the global batches of
one device, and both end with the one-device model (up to float rounding).

Keras 3.15 + TensorFlow 2.21 cannot run `fit` under a multi-worker `MultiWorkerMirroredStrategy`
(keras-team/keras#20585, tensorflow/tensorflow#72388): before training, `fit` reduces a data
batch with `strategy.reduce("MEAN", ...)` to build the model symbolically, which fails across
workers with "Attempt to convert a value (PerReplica...) ... to a Tensor" (a plain
`keras.Sequential` fails the same way). The test xfails with that signature and checks the
one-device equality once Keras fixes it. A single worker (no TF_CONFIG) trains normally.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).with_name("multiworker_script.py")
ROOT = SCRIPT.parents[2]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env():
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(SCRIPT.parent)]))
    return env


@pytest.mark.slow
def test_two_local_workers_match_one_device(tmp_path):
    ports = ",".join(str(p) for p in _free_ports(2))
    workers = [
        subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path / f"worker{i}.json"),
                          "--worker", str(i), "--ports", ports],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                         cwd=ROOT)
        for i in range(2)
    ]
    try:
        single = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "single.json")],
                                capture_output=True, text=True, env=_env(), cwd=ROOT,
                                timeout=900)
        outputs = [w.communicate(timeout=900) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert single.returncode == 0, single.stderr[-3000:]
    known = "Attempt to convert a value (PerReplica"
    if all(w.returncode != 0 and known in err for w, (_, err) in zip(workers, outputs)):
        pytest.xfail("Keras 3 fit under multi-worker MultiWorkerMirroredStrategy "
                     "(keras-team/keras#20585)")
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
    one = json.loads((tmp_path / "single.json").read_text())
    for i in range(2):
        run = json.loads((tmp_path / f"worker{i}.json").read_text())
        assert run["replicas"] == 2
        np.testing.assert_allclose(run["history"]["loss"], one["history"]["loss"], rtol=1e-5)
        np.testing.assert_allclose(run["probabilities"], one["probabilities"], atol=1e-5)


@pytest.mark.slow
def test_a_custom_loop_on_two_workers_matches_one_device(tmp_path):
    """The verdict on multi-worker training: `fit` fails (above), but a custom loop of
    `strategy.run` steps over the same Keras model and optimizer trains on two local workers
    and ends with the one-device weights (measured: max difference 8e-8 after 3 epochs)."""
    script = SCRIPT.with_name("custom_loop_script.py")
    ports = ",".join(str(p) for p in _free_ports(2))
    workers = [subprocess.Popen([sys.executable, str(script), str(tmp_path / f"w{i}.json"),
                                 str(i), ports], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env(), cwd=ROOT) for i in range(2)]
    try:
        single = subprocess.run([sys.executable, str(script), str(tmp_path / "single.json")],
                                capture_output=True, text=True, env=_env(), cwd=ROOT,
                                timeout=600)
        outputs = [w.communicate(timeout=600) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert single.returncode == 0, single.stderr[-3000:]
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
    one = json.loads((tmp_path / "single.json").read_text())
    for i in range(2):
        run = json.loads((tmp_path / f"w{i}.json").read_text())
        assert run["replicas"] == 2
        np.testing.assert_allclose(run["losses"], one["losses"], rtol=1e-5)
        for a, b in zip(run["weights"], one["weights"]):
            np.testing.assert_allclose(a, b, atol=1e-5)
