"""AdUni with the paper's Table 2 samplers: `methods.get("aduni", sampling=...)`."""

import numpy as np
import pytest

from kerasimb import methods
from kerasimb.callbacks import AlphaSchedule, ProgressiveSampling
from kerasimb.data import ImageDataset, SamplingWeights


def tiny_dataset(per_class=(24, 6, 2)):
    rng = np.random.default_rng(0)

    def split(counts):
        y = np.repeat(np.arange(3), counts)
        return rng.integers(0, 255, (len(y), 8, 8, 1)).astype(np.uint8), y

    return ImageDataset(split(per_class), split([3, 3, 3]), split([4, 4, 4]),
                        ["a", "b", "c"], name="tiny")


def class_frequencies(method, dataset, batches=40, batch_size=32):
    ds, _ = method.train_dataset(dataset, batch_size, seed=0)
    labels = np.concatenate([np.argmax(y, -1) for _, y in ds.take(batches)])
    return np.bincount(labels, minlength=3) / len(labels)


def test_sampling_values_and_errors():
    assert methods.get("aduni").params["sampling"] is None
    assert methods.get("aduni", sampling=0).params["sampling"] == 0.0
    assert methods.get("paco", sampling="progressive").params["sampling"] == "progressive"
    with pytest.raises(ValueError, match="Invalid value received for argument `sampling`"):
        methods.get("aduni", sampling="up")
    with pytest.raises(ValueError, match="argument `sampling`"):
        methods.get("aduni", sampling=float("nan"))


def test_up_and_square_root_sampling_draw_the_expected_class_mix():
    dataset = tiny_dataset()
    n = np.array([24, 6, 2], float)
    for q in (0.0, 0.5):
        expected = n**q / (n**q).sum()  # by hand: p_j = n_j^q / sum_k n_k^q
        freq = class_frequencies(methods.get("aduni", sampling=q, augment=False), dataset)
        np.testing.assert_allclose(freq, expected, atol=0.05)
    # No sampler: one shuffled pass per epoch, so the epoch's class mix is the data's.
    ds, steps = methods.get("aduni", augment=False).train_dataset(dataset, 8, seed=0)
    labels = np.concatenate([np.argmax(y, -1) for _, y in ds.take(steps)])
    assert np.bincount(labels, minlength=3).tolist() == [24, 6, 2]


def test_progressive_sampling_moves_the_pipeline_from_instance_to_class():
    dataset = tiny_dataset()
    method = methods.get("aduni", sampling="progressive", augment=False)
    with pytest.raises(RuntimeError, match="Call `train_dataset` before `callbacks`"):
        method.callbacks(dataset, 4)
    ds, _ = method.train_dataset(dataset, 32, seed=0)
    schedule, progressive = method.callbacks(dataset, 4)
    assert isinstance(schedule, AlphaSchedule) and isinstance(progressive, ProgressiveSampling)
    assert isinstance(method.weights, SamplingWeights)
    n = np.array([24, 6, 2], float)
    instance, balanced = n / n.sum(), np.full(3, 1 / 3)
    progressive.on_epoch_begin(0)
    np.testing.assert_allclose(method.weights.probabilities, instance)
    progressive.on_epoch_begin(3)  # t = 3/4
    np.testing.assert_allclose(method.weights.probabilities, 0.25 * instance + 0.75 * balanced)
    # The running pipeline reads the variable: later batches follow the new mix.
    labels = np.concatenate([np.argmax(y, -1) for _, y in ds.skip(8).take(40)])
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / len(labels),
                               0.25 * instance + 0.75 * balanced, atol=0.05)
    # A fixed-α method with progressive sampling has only the sampling callback.
    fixed = methods.get("aduni-fixed-alpha", sampling="progressive", augment=False)
    fixed.train_dataset(dataset, 8, seed=0)
    [only] = fixed.callbacks(dataset, 4)
    assert isinstance(only, ProgressiveSampling)


@pytest.mark.slow
def test_progressive_aduni_trains_and_logs_the_probabilities():
    from kerasimb.models import model_fn

    dataset = tiny_dataset()
    method = methods.get("aduni", sampling="progressive", projection_dim=8)
    _, history = method.train(dataset, model_fn("small_cnn", width=4, depth=1), epochs=2,
                              batch_size=8, seed=0)
    np.testing.assert_allclose(history.history["sampling_p0"], [24 / 32, 0.5 * 24 / 32 + 0.5 / 3],
                               rtol=1e-5)
    assert history.history["alpha"][0] == 1.0
