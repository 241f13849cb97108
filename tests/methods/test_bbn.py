"""BBN (Zhou et al., 2020): the cumulative-learning α, the mixed loss re-derived in numpy, the
two samplers, and training through `model.fit`."""

import keras
import numpy as np
import pytest

from kerasimb import methods
from kerasimb.data import ImageDataset
from kerasimb.methods.bbn import CumulativeLearning
from kerasimb.models import BBN, model_fn


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, c * 2:(c + 1) * 2] = 200
        return x, y

    return ImageDataset(split([12, 5, 2]), split([3, 3, 3]), split([4, 4, 4]),
                        ["head", "middle", "tail"], name="tiny")


def tiny_bbn(alpha=1.0):
    backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="tanh")])
    return BBN(backbone, 3, branch_units=6, alpha=alpha)


def test_alpha_follows_one_minus_squared_epoch_fraction():
    t_max = 6
    callback = CumulativeLearning(t_max)
    model = tiny_bbn()
    callback.set_model(model)
    for epoch in range(t_max):
        callback.on_epoch_begin(epoch)
        expected = 1.0 - ((epoch + 1) / t_max) ** 2  # T = epoch + 1 of T_max
        assert float(model.alpha.numpy()) == pytest.approx(expected, abs=1e-7)
    assert callback.alphas[-1] == 0.0
    with pytest.raises(ValueError, match="Received: epochs=0"):
        CumulativeLearning(0)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_mixed_loss_matches_numpy():
    model = tiny_bbn(alpha=0.3)
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x_c, x_r = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    y_c = np.eye(3)[[0, 0, 1, 0, 2]].astype("float32")
    y_r = np.eye(3)[[2, 1, 2, 2, 1]].astype("float32")
    logits, loss = model.mixed_loss(x_c, x_r, y_c, y_r)

    (kb, bb), = [model.backbone.layers[-1].get_weights()]

    def dense(layer, h):
        k, b = layer.get_weights()
        return h @ k + b

    f_c = np.maximum(dense(model.conventional_block, np.tanh(x_c @ kb + bb)), 0.0)
    f_r = np.maximum(dense(model.rebalancing_block, np.tanh(x_r @ kb + bb)), 0.0)
    z = 0.3 * dense(model.conventional_classifier, f_c) + 0.7 * dense(
        model.rebalancing_classifier, f_r)
    np.testing.assert_allclose(np.asarray(logits), z, rtol=1e-5, atol=1e-6)
    log_p = _log_softmax(z)
    expected = 0.3 * -(y_c * log_p).sum(1).mean() + 0.7 * -(y_r * log_p).sum(1).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # Inference: both branches on the same images, weighted 0.5 each.
    f_c = np.maximum(dense(model.conventional_block, np.tanh(x_c @ kb + bb)), 0.0)
    f_r2 = np.maximum(dense(model.rebalancing_block, np.tanh(x_c @ kb + bb)), 0.0)
    np.testing.assert_allclose(
        model.predict(x_c, verbose=0),
        0.5 * dense(model.conventional_classifier, f_c)
        + 0.5 * dense(model.rebalancing_classifier, f_r2), rtol=1e-5, atol=1e-6)


def test_samplers_instance_and_reversed():
    dataset = tiny_dataset()  # counts 12, 5, 2
    ds, steps = methods.get("bbn").train_dataset(dataset, 8, seed=0)
    assert steps == 3
    conventional, reversed_ = np.zeros(3), np.zeros(3)
    for (x_c, x_r), (y_c, y_r) in ds.take(300):
        assert x_c.shape == (8, 8, 8, 1) and x_r.shape == (8, 8, 8, 1)
        conventional += y_c.numpy().sum(0)
        reversed_ += y_r.numpy().sum(0)
    counts = np.array([12, 5, 2], float)
    np.testing.assert_allclose(conventional / conventional.sum(), counts / counts.sum(),
                               atol=0.03)
    inverse = (1 / counts) / (1 / counts).sum()  # Zhou et al.: p_j ∝ 1 / n_j
    np.testing.assert_allclose(reversed_ / reversed_.sum(), inverse, atol=0.03)


def test_trains_through_fit_and_predicts():
    dataset = tiny_dataset()
    method = methods.get("bbn")
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=3,
                                  batch_size=8, seed=0)
    assert isinstance(model, BBN)
    np.testing.assert_allclose(history.history["bbn_alpha"], [1 - (t / 3) ** 2 for t in (1, 2, 3)],
                               atol=1e-6)
    assert len(history.history["val_loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    probs = method.predict(model, dataset.test[0])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    keras.backend.clear_session()
