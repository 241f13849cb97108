"""The sampling/mixing methods: registered, validated, and trainable through Method.train."""

import numpy as np
import pytest

from kerasimb import callbacks, data, methods

NAMES = ["class-sampling", "sqrt-sampling", "progressive-sampling", "drs", "mixup", "cutmix",
         "remix", "balanced-mixup"]


def _dataset():
    rng = np.random.default_rng(0)
    counts = [40, 12, 4]
    y = np.repeat(np.arange(3), counts)
    x = rng.integers(0, 256, (len(y), 8, 8, 1)).astype("uint8")
    yv = np.array([0, 1, 2] * 2)
    xv = rng.integers(0, 256, (6, 8, 8, 1)).astype("uint8")
    return data.ImageDataset((x, y), (xv, yv), (xv, yv), ["a", "b", "c"], name="toy")


def test_all_registered():
    assert set(NAMES) <= set(methods.names())


def test_train_datasets_have_one_hot_or_soft_labels():
    ds = _dataset()
    for name in NAMES:
        train, steps = methods.get(name).train_dataset(ds, 16, seed=0)
        assert steps == 4
        images, labels = next(iter(train))
        assert tuple(images.shape) == (16, 8, 8, 1) and tuple(labels.shape) == (16, 3)
        np.testing.assert_allclose(labels.numpy().sum(1), 1.0, atol=1e-6)


def test_scheduled_methods_callbacks():
    ds = _dataset()
    m = methods.get("progressive-sampling")
    m.train_dataset(ds, 16, 0)
    (cb,) = m.callbacks(ds, epochs=5)
    assert isinstance(cb, callbacks.ProgressiveSampling) and cb.weights is m.weights
    d = methods.get("drs")
    d.train_dataset(ds, 16, 0)
    assert d.callbacks(ds, epochs=10)[0].start_epoch == 8
    with pytest.raises(RuntimeError, match="train_dataset"):
        methods.get("drs").callbacks(ds, 10)


def test_train_end_to_end_two_methods():
    from kerasimb.models import SmallCNN

    ds = _dataset()
    for name in ("balanced-mixup", "progressive-sampling"):
        model, history = methods.get(name).train(
            ds, lambda s, k: SmallCNN(s, k, width=4, depth=1), epochs=2, batch_size=16, seed=0)
        assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))
    assert "sampling_p0" in history.history


def test_param_errors():
    with pytest.raises(ValueError, match="Received: alpha=0.0"):
        methods.get("balanced-mixup", alpha=0.0)
    with pytest.raises(TypeError, match="per_example"):
        methods.get("balanced-mixup", per_example="yes")
    with pytest.raises(ValueError, match="Received: kappa=0.5"):
        methods.get("remix", kappa=0.5)
    with pytest.raises(ValueError, match="Received: start_epoch=-2"):
        methods.get("drs", start_epoch=-2)
    with pytest.raises(ValueError, match="Invalid argument received for method `mixup`"):
        methods.get("mixup", q=0.5)
