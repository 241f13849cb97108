"""ProgressiveSampling / DeferredResampling change the classes a running fit draws, per epoch,
without recompiling."""

import math

import keras
import numpy as np
import pytest

from kerasimb import callbacks, data

COUNTS = [270, 27, 3]


class LabelMass(keras.metrics.Metric):
    """Mean one-hot target of class `k` over an epoch: the class frequency fit really saw."""

    def __init__(self, k, **kwargs):
        super().__init__(name=f"mass{k}", **kwargs)
        self.k = k
        self.total = self.add_variable((), "zeros", name="total")
        self.count = self.add_variable((), "zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(keras.ops.sum(y_true[:, self.k]))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(y_true)[0], "float32"))

    def result(self):
        return self.total / self.count


class TrainFunctionSpy(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.functions = []

    def on_epoch_end(self, epoch, logs=None):
        self.functions.append(self.model.train_function)


def _fit(callback_factory, epochs, steps=200):
    # 200 batches per epoch: the batches prefetched under the previous epoch's weights (tf.data's
    # AUTOTUNE buffers grow on a loaded machine; 10+ were seen with 2 busy cores) stay a small
    # part of the epoch, so the tolerances below hold whatever the load.
    y = np.repeat(np.arange(3), COUNTS)
    x = np.zeros((len(y), 2, 2, 1), "uint8")
    weights = data.SamplingWeights(COUNTS, q=1.0)
    ds = data.sampled_dataset(x, y, q=weights, batch_size=64, seed=0)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[LabelMass(k) for k in range(3)])
    spy = TrainFunctionSpy()
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False,
                        callbacks=[callback_factory(weights), spy])
    return history.history, spy


def test_progressive_sampling_moves_frequencies_during_fit():
    epochs = 4
    history, spy = _fit(lambda w: callbacks.ProgressiveSampling(w, epochs), epochs)
    pi = np.array(COUNTS) / sum(COUNTS)
    for epoch in range(epochs):
        t = epoch / epochs
        expected = (1 - t) * pi + t / 3
        np.testing.assert_allclose(history[f"sampling_p2"][epoch], expected[2], atol=1e-6)
        # 200 batches of 64, the first few prefetched under the previous epoch's weights
        assert abs(history["mass2"][epoch] - expected[2]) < 0.05, (epoch, history["mass2"])
    assert history["mass2"][0] < 0.03 < 0.15 < history["mass2"][3]
    assert all(f is spy.functions[0] for f in spy.functions)  # never recompiled


def test_deferred_resampling_switches_at_start_epoch():
    history, spy = _fit(lambda w: callbacks.DeferredResampling(w, start_epoch=2), 3)
    mass = history["mass2"]
    assert mass[0] < 0.03 and mass[1] < 0.03 and abs(mass[2] - 1 / 3) < 0.06
    assert all(f is spy.functions[0] for f in spy.functions)


def test_errors():
    with pytest.raises(TypeError, match="SamplingWeights"):
        callbacks.ProgressiveSampling([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="Received: epochs=0"):
        callbacks.ProgressiveSampling(data.SamplingWeights([2, 1]), 0)
    with pytest.raises(ValueError, match="Received: start_epoch=-1"):
        callbacks.DeferredResampling(data.SamplingWeights([2, 1]), -1)
