"""Progressive sampling / DRS resumed after an interruption train on the same batches as an
uninterrupted run (issue 11): the per-epoch schedule is looked up by the batch's step, so the
resumed pipeline (which skips the batches already trained on) has no prefetch lag to differ by.

The interruption is simulated in process: a callback raises in the middle of an epoch after
`ResumableBackup` has written the previous epoch's backup, then a fresh method instance trains
again from that backup. A slow variant kills a real `compare` subprocess (`resume_script.py`).
"""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasimb import methods
from kerasimb.callbacks import ResumableBackup
from kerasimb.models import model_fn

import resume_script  # noqa: E402  (tests/reliability, on sys.path under pytest)

TINY_MODEL = model_fn("small_cnn", width=4, depth=2)
EPOCHS = 3
BATCH = 4


class Interrupted(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Raises at batch `batch` of epoch `epoch`, like a process killed mid-epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise Interrupted


def tiny_dataset():
    # 36 training images, batches of 4: 9 steps an epoch, more than tf.data prefetches ahead
    return resume_script.tiny_dataset((24, 9, 3), (2, 2, 2), (2, 2, 2))


def _train(name, callbacks, resume=None):
    keras.backend.clear_session()  # as `runs.compare` does before every run
    model, history = methods.get(name).train(
        tiny_dataset(), TINY_MODEL, epochs=EPOCHS, batch_size=BATCH, learning_rate=1e-2, seed=0,
        callbacks=callbacks, resume=resume)
    return model, history


@pytest.mark.parametrize("name", ["progressive-sampling", "drs"])
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, name):
    reference, history = _train(name, [])
    backup_dir = tmp_path / "backup"
    with pytest.raises(Interrupted):  # dies in the middle of the second epoch
        _train(name, [InterruptAt(epoch=1, batch=4)], resume=ResumableBackup(backup_dir))
    backup = ResumableBackup(backup_dir)
    assert backup.resume_epoch() == 1
    resumed, resumed_history = _train(name, [], resume=backup)
    for a, b in zip(reference.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
    merged = backup.history(resumed_history.history)
    for key in ("loss", "val_loss", "sampling_p0", "sampling_p2"):
        assert merged[key] == history.history[key], key
    x_test = tiny_dataset().test[0].astype("float32") / 255
    np.testing.assert_array_equal(reference.predict(x_test, verbose=0),
                                  resumed.predict(x_test, verbose=0))


@pytest.mark.slow
def test_killed_subprocess_resumes_like_uninterrupted(tmp_path):
    """The same through `runs.compare(output_dir=)` with a real SIGKILL mid-epoch."""
    script = os.path.join(os.path.dirname(__file__), "resume_script.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    names = ["--methods", "progressive-sampling", "drs"]

    def run(*args):
        return subprocess.run([sys.executable, script, *args, *names], capture_output=True,
                              text=True, env=env, timeout=600)

    uninterrupted = run(str(tmp_path / "a"), "--no-output-dir", "--json", str(tmp_path / "a.json"))
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    killed = run(str(tmp_path / "b"), "--kill", "progressive-sampling:0:2:1:SIGKILL")
    assert killed.returncode == -signal.SIGKILL
    assert run(str(tmp_path / "b")).returncode == 0
    with open(tmp_path / "a.json") as a, open(tmp_path / "b" / "result.json") as b:
        assert json.load(a) == json.load(b)
