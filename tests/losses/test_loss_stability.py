"""Every imbalance loss stays finite (value and gradient) for extreme logits in every float dtype,
and computes in float32 under mixed-precision policies."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasimb import losses

COUNTS = [1000, 50, 3]
LOSSES = {
    "focal": lambda: losses.FocalLoss(gamma=2.0),
    "focal_small_gamma": lambda: losses.FocalLoss(gamma=0.3, alpha=[0.2, 1.0, 3.0]),
    "focal_gamma0": lambda: losses.FocalLoss(gamma=0.0),
    "cb_softmax": lambda: losses.ClassBalancedLoss(COUNTS, loss_type="softmax"),
    "cb_sigmoid": lambda: losses.ClassBalancedLoss(COUNTS, loss_type="sigmoid"),
    "cb_focal": lambda: losses.ClassBalancedLoss(COUNTS, loss_type="focal", gamma=2.0),
    "cb_focal_small_gamma": lambda: losses.ClassBalancedLoss(COUNTS, loss_type="focal", gamma=0.5),
    "ldam": lambda: losses.LDAMLoss(COUNTS, class_weights=[0.1, 1.0, 1.9]),
    "logit_adjusted": lambda: losses.LogitAdjustedLoss(COUNTS, tau=2.0),
}
# The largest magnitudes each dtype holds (float16 tops out at 65504).
EXTREME = {"float16": 6.0e4, "bfloat16": 1.0e30, "float32": 1.0e30}


def _targets():
    one_hot = np.eye(3, dtype=np.float32)[[0, 1, 2, 2, 0, 1]]
    soft = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]], np.float32)
    return [np.array([0, 1, 2, 2, 0, 1]), one_hot, soft]


def _extreme_logits(big, n):
    rows = [[big, -big, 0.0], [-big, big, -big], [big, big, -big], [-big, -big, big], [0.0, 0.0, 0.0], [big, 0.0, -big]]
    return np.array(rows[:n], np.float32)


@pytest.mark.parametrize("dtype", sorted(EXTREME))
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_finite_value_and_gradient_for_extreme_logits(name, dtype):
    loss = LOSSES[name]()
    for y in _targets():
        logits = tf.Variable(tf.cast(_extreme_logits(EXTREME[dtype], len(y)), dtype))
        with tf.GradientTape() as tape:
            value = loss(y, logits)
        grad = tape.gradient(value, logits)
        assert value.dtype == tf.float32
        assert np.isfinite(value.numpy()), (name, dtype, y)
        assert np.all(np.isfinite(tf.cast(grad, tf.float32).numpy())), (name, dtype, y)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_training_step_is_finite(policy):
    keras.config.set_dtype_policy(policy)
    try:
        for name in ("focal", "cb_focal", "ldam", "logit_adjusted"):
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)])
            model.compile(optimizer="sgd", loss=LOSSES[name]())
            x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32) * 100
            y = np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 0, 0, 1, 2]]
            logs = model.train_on_batch(x, y, return_dict=True)
            assert np.isfinite(logs["loss"]), name
            direct = LOSSES[name]()(y, model(x))
            assert direct.dtype == tf.float32
    finally:
        keras.config.set_dtype_policy("float32")
