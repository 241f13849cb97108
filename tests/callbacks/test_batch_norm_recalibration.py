"""recalibrate_batch_norm / RecalibrateBatchNorm against population statistics computed in numpy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasimb import callbacks
from kerasimb.callbacks import RecalibrateBatchNorm, recalibrate_batch_norm
from kerasimb.models import QuadSNet

EPS = 1e-3


def _dense_model(seed=0):
    """Dense -> BN1 -> Dropout -> Dense -> BN2 -> Dense, with non-trivial gamma/beta."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5,))
    h = keras.layers.Dense(4, name="d1")(inputs)
    h = keras.layers.BatchNormalization(epsilon=EPS, name="bn1")(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Dense(3, name="d2")(h)
    h = keras.layers.BatchNormalization(epsilon=EPS, name="bn2")(h)
    outputs = keras.layers.Dense(2, name="d3")(h)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    for name in ("bn1", "bn2"):
        bn = model.get_layer(name)
        bn.gamma.assign(rng.uniform(0.5, 2.0, bn.gamma.shape).astype("float32"))
        bn.beta.assign(rng.normal(size=bn.beta.shape).astype("float32"))
    return model


def _numpy_population_stats(model, x, batch_size):
    """BN1/BN2 population mean and biased variance, by hand: BN1 in batch mode, dropout off."""
    w1, b1 = (np.asarray(v, np.float64) for v in model.get_layer("d1").get_weights())
    w2, b2 = (np.asarray(v, np.float64) for v in model.get_layer("d2").get_weights())
    bn1 = model.get_layer("bn1")
    gamma, beta = np.asarray(bn1.gamma, np.float64), np.asarray(bn1.beta, np.float64)
    h1_all, h2_all = [], []
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size].astype(np.float64)
        h1 = xb @ w1 + b1
        normed = (h1 - h1.mean(0)) / np.sqrt(h1.var(0) + EPS) * gamma + beta
        h1_all.append(h1)
        h2_all.append(normed @ w2 + b2)
    h1_all, h2_all = np.concatenate(h1_all), np.concatenate(h2_all)
    return (h1_all.mean(0), h1_all.var(0)), (h2_all.mean(0), h2_all.var(0))


def test_matches_numpy_population_statistics_with_unequal_batches():
    model = _dense_model()
    x = np.random.default_rng(1).normal(2.0, 3.0, (20, 5)).astype("float32")
    (m1, v1), (m2, v2) = _numpy_population_stats(model, x, batch_size=7)  # batches 7, 7, 6
    assert recalibrate_batch_norm(model, x, batch_size=7, seed=None) == 2
    bn1, bn2 = model.get_layer("bn1"), model.get_layer("bn2")
    np.testing.assert_allclose(bn1.moving_mean.numpy(), m1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(), v1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_mean.numpy(), m2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), v2, rtol=1e-5, atol=1e-5)


def test_convolutional_input_reduces_over_batch_and_pixels_and_scales_uint8():
    bn = keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((6, 6, 2)), bn, keras.layers.Conv2D(3, 3)])
    x = np.random.default_rng(0).integers(0, 256, (11, 6, 6, 2)).astype("uint8")
    recalibrate_batch_norm(model, x, batch_size=4)
    ref = x.astype(np.float64) / 255.0
    np.testing.assert_allclose(bn.moving_mean.numpy(), ref.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), ref.var(axis=(0, 1, 2)), rtol=1e-4)


def test_channels_first_axis():
    bn = keras.layers.BatchNormalization(axis=1)
    model = keras.Sequential([keras.Input((3, 4, 4)), bn])
    x = np.random.default_rng(2).normal(size=(9, 3, 4, 4)).astype("float32")
    recalibrate_batch_norm(model, x, batch_size=4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=(0, 2, 3)), rtol=1e-4)


def test_leaves_trainable_weights_and_layers_unchanged_and_is_deterministic():
    model = _dense_model()
    x = np.random.default_rng(3).normal(size=(30, 5)).astype("float32")
    before = [w.numpy().copy() for w in model.trainable_weights]
    recalibrate_batch_norm(model, x, batch_size=8, seed=4)
    first = [w.numpy().copy() for w in model.non_trainable_weights]
    recalibrate_batch_norm(model, x, batch_size=8, seed=4)  # dropout is off: same result
    for a, b in zip(before, model.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())
    for a, b in zip(first, model.non_trainable_weights):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6)
    for name in ("bn1", "bn2"):
        layer = model.get_layer(name)
        assert "call" not in layer.__dict__ and layer.momentum == 0.99


def test_inference_after_one_full_batch_equals_batch_statistics_for_quadsnet():
    keras.utils.set_random_seed(0)
    model = QuadSNet((16, 16, 1), 2, filters=(2, 3, 3, 4), classifier_units=(), block_dropout=0.0,
                     dropout=0.0)
    assert len(callbacks.batch_norm.batch_norm_layers(model)) == 16
    x = np.random.default_rng(0).random((12, 16, 16, 1)).astype("float32")
    assert recalibrate_batch_norm(model, x, batch_size=12, seed=None) == 16
    inference = model(x, training=False).numpy()
    batch_mode = model(x, training=True).numpy()  # every BN normalises with the batch's stats
    np.testing.assert_allclose(inference, batch_mode, rtol=1e-3, atol=1e-4)


def test_frozen_layers_skipped_unless_included():
    inner = keras.layers.BatchNormalization()
    backbone = keras.Sequential([keras.Input((3,)), inner])
    backbone.trainable = False
    outer = keras.layers.BatchNormalization()
    model = keras.Sequential([keras.Input((3,)), backbone, outer])
    x = np.arange(12, dtype="float32").reshape(4, 3)
    assert recalibrate_batch_norm(model, x) == 1
    np.testing.assert_array_equal(inner.moving_mean.numpy(), np.zeros(3))
    assert recalibrate_batch_norm(model, x, include_frozen=True) == 2
    np.testing.assert_allclose(inner.moving_mean.numpy(), x.mean(0), rtol=1e-6)


def test_tf_data_batches_with_labels_equal_array_input():
    model_a, model_b = _dense_model(), _dense_model()
    x = np.random.default_rng(5).normal(size=(17, 5)).astype("float32")
    recalibrate_batch_norm(model_a, x, batch_size=5, seed=None)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(17, "int32"))).batch(5)
    recalibrate_batch_norm(model_b, ds)
    for a, b in zip(model_a.non_trainable_weights, model_b.non_trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    model_c = _dense_model()
    recalibrate_batch_norm(model_c, ds, num_batches=1)
    np.testing.assert_allclose(model_c.get_layer("bn1").moving_mean.numpy(),
                               (x[:5] @ model_c.get_layer("d1").get_weights()[0]
                                + model_c.get_layer("d1").get_weights()[1]).mean(0), rtol=1e-5, atol=1e-6)


def _fit(callback=None, epochs=2, validation=False):
    model = _dense_model(seed=7)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(24, 5)).astype("float32"), rng.normal(size=(24, 2)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
              validation_data=(x[:8], y[:8]) if validation else None,
              callbacks=[callback] if callback else [])
    return model, x


def test_callback_train_end_recalibrates_once_and_leaves_training_unchanged():
    plain, _ = _fit()
    callback = RecalibrateBatchNorm(np.zeros((1, 5)), batch_size=8)
    callback.data = np.random.default_rng(8).normal(size=(24, 5)).astype("float32")
    model, x = _fit(callback)
    assert callback.calls == 1
    for a, b in zip(plain.trainable_weights, model.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)
    expected = [w.numpy().copy() for w in model.non_trainable_weights]
    recalibrate_batch_norm(model, x, batch_size=8)
    for a, b in zip(expected, model.non_trainable_weights):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-6)


@pytest.mark.parametrize("validation", [False, True])
def test_callback_epoch_end_recalibrates_once_per_epoch(validation):
    x = np.random.default_rng(8).normal(size=(24, 5)).astype("float32")
    callback = RecalibrateBatchNorm(x, batch_size=8, when="epoch_end")
    _fit(callback, epochs=3, validation=validation)
    assert callback.calls == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [({"batch_size": 0}, "batch_size"), ({"num_batches": 0}, "num_batches"), ({"seed": -1}, "seed")],
)
def test_bad_arguments(kwargs, match):
    model = _dense_model()
    with pytest.raises(ValueError, match=f"Invalid value received for argument `{match}`"):
        recalibrate_batch_norm(model, np.zeros((4, 5)), **kwargs)


def test_bad_data_and_when():
    model = _dense_model()
    with pytest.raises(ValueError, match="argument `data`.*Received: data with shape"):
        recalibrate_batch_norm(model, np.zeros((0, 5)))
    with pytest.raises(ValueError, match="Expected at least one batch"):
        recalibrate_batch_norm(model, tf.data.Dataset.from_tensor_slices(np.zeros((0, 5))).batch(2))
    with pytest.raises(TypeError, match="argument `data`"):
        recalibrate_batch_norm(model, 5)
    with pytest.raises(ValueError, match="Invalid value received for argument `when`"):
        RecalibrateBatchNorm(np.zeros((4, 5)), when="batch_end")
    assert "call" not in model.get_layer("bn1").__dict__  # restored after the failure


def test_model_without_batch_norm_is_a_no_op():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert recalibrate_batch_norm(model, np.zeros((4, 3))) == 0
