"""ProgressiveSampling / DeferredResampling change the classes a running fit draws, per epoch,
without recompiling."""

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


STEPS = 20


def _data():
    y = np.repeat(np.arange(3), COUNTS)
    return np.zeros((len(y), 2, 2, 1), "uint8"), y


def _fit(callback_factory, epochs, steps=STEPS):
    # 20 batches per epoch: a schedule lagging by the 5-10+ batches tf.data prefetches would
    # move whole-epoch label masses by far more than the 1e-6 the exact checks below allow.
    x, y = _data()
    weights = data.SamplingWeights(COUNTS, q=1.0)
    ds = data.sampled_dataset(x, y, q=weights, batch_size=64, seed=0)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[LabelMass(k) for k in range(3)])
    spy = TrainFunctionSpy()
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False,
                        callbacks=[callback_factory(weights), spy])
    return history.history, spy


def _epoch_mass(p, epoch, steps=STEPS):
    """Label mass of batches `epoch * steps ...` of a pipeline with FIXED probabilities `p`
    (the variable path, no schedule): what the epoch must have seen if every one of its batches,
    prefetched or not, was drawn with its own epoch's probabilities."""
    x, y = _data()
    weights = data.SamplingWeights(COUNTS)
    weights.set_probabilities(p)
    ds = data.sampled_dataset(x, y, q=weights, batch_size=64, seed=0)
    labels = np.concatenate([b[1].numpy() for b in ds.skip(epoch * steps).take(steps)])
    return labels.mean(axis=0)


def test_progressive_sampling_moves_frequencies_during_fit():
    epochs = 4
    history, spy = _fit(lambda w: callbacks.ProgressiveSampling(w, epochs), epochs)
    pi = np.array(COUNTS) / sum(COUNTS)
    for epoch in range(epochs):
        t = epoch / epochs
        expected = (1 - t) * pi + t / 3  # Kang et al.'s rule, re-derived by hand
        np.testing.assert_allclose(history["sampling_p2"][epoch], expected[2], atol=1e-6)
        # every batch of the epoch, from the first, was drawn with this epoch's p: no lag
        mass = _epoch_mass(expected, epoch)
        for k in range(3):
            np.testing.assert_allclose(history[f"mass{k}"][epoch], mass[k], atol=1e-6)
        assert abs(history["mass2"][epoch] - expected[2]) < 0.06, (epoch, history["mass2"])
    assert history["mass2"][0] < 0.03 < 0.15 < history["mass2"][3]
    assert all(f is spy.functions[0] for f in spy.functions)  # never recompiled


def test_deferred_resampling_switches_at_start_epoch():
    history, spy = _fit(lambda w: callbacks.DeferredResampling(w, start_epoch=2), 3)
    mass = history["mass2"]
    assert mass[0] < 0.03 and mass[1] < 0.03 and abs(mass[2] - 1 / 3) < 0.06
    pi = np.array(COUNTS) / sum(COUNTS)
    for epoch, p in enumerate([pi, pi, np.full(3, 1 / 3)]):
        np.testing.assert_allclose(mass[epoch], _epoch_mass(p, epoch)[2], atol=1e-6)
    assert all(f is spy.functions[0] for f in spy.functions)


def test_schedule_lookup_by_step_and_variable_fallback():
    weights = data.SamplingWeights([2, 1])
    callback = callbacks.ProgressiveSampling(weights, epochs=2, steps_per_epoch=3)
    table, steps = weights.schedule
    assert steps == 3
    np.testing.assert_allclose(table, [[2 / 3, 1 / 3], [7 / 12, 5 / 12], [0.5, 0.5]], atol=1e-7)
    rows = [weights.probabilities_at(s).numpy() for s in (0, 2, 3, 5, 6, 1000)]
    np.testing.assert_allclose(rows, [table[0]] * 2 + [table[1]] * 2 + [table[2]] * 2, atol=1e-7)
    callback.on_epoch_begin(1)  # keeps the variable at the epoch's row, schedule untouched
    np.testing.assert_allclose(weights.probabilities, table[1], atol=1e-7)
    assert weights.schedule is not None
    weights.set_q(0.0)  # a user's assignment clears the schedule: the variable is read again
    assert weights.schedule is None
    np.testing.assert_allclose(weights.probabilities_at(0).numpy(), [0.5, 0.5])
    callbacks.DeferredResampling(weights, start_epoch=2, steps_per_epoch=4)
    np.testing.assert_allclose(weights.schedule[0], [[2 / 3, 1 / 3]] * 2 + [[0.5, 0.5]],
                               atol=1e-7)


def test_fixed_probabilities_still_follow_the_variable():
    x, y = _data()
    weights = data.SamplingWeights(COUNTS, q=1.0)
    ds = iter(data.sampled_dataset(x, y, q=weights, batch_size=512, seed=0))
    weights.set_probabilities([0.0, 0.0, 1.0])
    for _ in range(64):  # past anything prefetched
        labels = next(ds)[1].numpy()
    assert labels[:, 2].min() == 1.0


def test_errors():
    with pytest.raises(TypeError, match="SamplingWeights"):
        callbacks.ProgressiveSampling([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="Received: epochs=0"):
        callbacks.ProgressiveSampling(data.SamplingWeights([2, 1]), 0)
    with pytest.raises(ValueError, match="Received: start_epoch=-1"):
        callbacks.DeferredResampling(data.SamplingWeights([2, 1]), -1)
    with pytest.raises(ValueError, match="Received: steps_per_epoch=0"):
        callbacks.ProgressiveSampling(data.SamplingWeights([2, 1]), 3, steps_per_epoch=0)
    weights = data.SamplingWeights([2, 1])
    with pytest.raises(ValueError, match="Expected a non-empty"):
        weights.set_schedule(np.zeros((0, 2)), 3)
    with pytest.raises(ValueError, match="Expected values summing to 1"):
        weights.set_schedule([[0.5, 0.5], [0.5, 0.6]], 3)
    with pytest.raises(ValueError, match="Received: steps_per_epoch=0"):
        weights.set_schedule([[0.5, 0.5]], 0)
