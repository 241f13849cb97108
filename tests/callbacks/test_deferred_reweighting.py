import keras
import numpy as np
import pytest

from kerasimb.callbacks import DeferredReweighting
from kerasimb.losses import LDAMLoss
from kerasimb.testing import TestCase

COUNTS = [40, 8, 2]
RNG = np.random.default_rng(0)
X = RNG.normal(size=(12, 4)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[[0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 0, 1]]


def _reference_ldam(logits, labels, weights, scale=5.0, max_margin=0.5):
    """Cao et al.'s LDAM in numpy: margin n^(-1/4) on the target logit, then scaled softmax CE."""
    margins = np.array(COUNTS, np.float64) ** -0.25
    margins *= max_margin / margins.max()
    out = []
    for z, y in zip(np.asarray(logits, np.float64), labels):
        z = z.copy()
        z[y] -= margins[y]
        z *= scale
        out.append(-(z[y] - z.max() - np.log(np.exp(z - z.max()).sum())) * weights[y])
    return float(np.mean(out))


def _effective(beta):
    raw = np.array([(1 - beta) / (1 - beta**n) for n in COUNTS])
    return raw * 3 / raw.sum()


def _frozen_model(jit_compile):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    # A zero learning rate keeps the weights fixed, so only the loss's class weights change.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=LDAMLoss(COUNTS, scale=5.0), jit_compile=jit_compile)
    return model


class DeferredReweightingTest(TestCase):
    def test_weights(self):
        self.assertAllClose(DeferredReweighting(COUNTS, 1, beta=0.99).weights, _effective(0.99), rtol=1e-9)

    def test_compiled_train_step_sees_new_weights(self):
        for jit_compile in (False, True):
            model = _frozen_model(jit_compile)
            logits = keras.ops.convert_to_numpy(model(X))
            labels = Y.argmax(axis=1)
            callback = DeferredReweighting(COUNTS, start_epoch=2, beta=0.99)
            history = model.fit(X, Y, batch_size=12, epochs=4, callbacks=[callback], verbose=0, shuffle=False)
            loss = history.history["loss"]
            unweighted = _reference_ldam(logits, labels, np.ones(3))
            weighted = _reference_ldam(logits, labels, _effective(0.99))
            self.assertAllClose(loss[:2], [unweighted] * 2, rtol=1e-5, msg=f"jit_compile={jit_compile}")
            self.assertAllClose(loss[2:], [weighted] * 2, rtol=1e-5, msg=f"jit_compile={jit_compile}")
            self.assertEqual(history.history["drw_active"], [0.0, 0.0, 1.0, 1.0])
            self.assertGreater(abs(weighted - unweighted), 0.05)

    def test_set_class_weights_between_steps_without_recompiling(self):
        model = _frozen_model(jit_compile=False)
        first = model.train_on_batch(X, Y)
        model.loss.set_class_weights([0.1, 1.0, 5.0])
        second = model.train_on_batch(X, Y)
        self.assertNotAlmostEqual(float(first), float(second), places=3)
        expected = _reference_ldam(keras.ops.convert_to_numpy(model(X)), Y.argmax(axis=1), [0.1, 1.0, 5.0])
        self.assertAllClose(second, expected, rtol=1e-5)

    def test_resumed_run_before_start_uses_unit_weights(self):
        model = _frozen_model(jit_compile=False)
        model.loss.set_class_weights([3.0, 3.0, 3.0])
        model.fit(X, Y, batch_size=12, epochs=1, callbacks=[DeferredReweighting(COUNTS, 5)], verbose=0)
        self.assertIsNone(model.loss.class_weights)

    def test_errors(self):
        with pytest.raises(ValueError, match="Received: start_epoch=-1"):
            DeferredReweighting(COUNTS, -1)
        with pytest.raises(ValueError, match="Received: beta=1.0"):
            DeferredReweighting(COUNTS, 1, beta=1.0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        with pytest.raises(TypeError, match="set_class_weights"):
            model.fit(X, Y, epochs=1, callbacks=[DeferredReweighting(COUNTS, 1)], verbose=0)
