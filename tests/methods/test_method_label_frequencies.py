"""Each method's training stream draws its classes with the frequencies of its sampler.

The expected frequencies are re-derived here from the papers' closed forms, not read from the
library: q-power sampling p_j = n_j^q / sum_k n_k^q (Galdran et al., 2021, Eq. 1; Kang et al.,
2020), with q written out per method (instance q = 1, square-root q = 1/2, class q = 0);
progressive-balanced sampling p(t) = (1 - t/T) n_j/N + (t/T)/K (Kang et al., 2020); deferred
re-sampling (Cao et al., 2019); Balanced-MixUp's label mass (1 - E[λ]) n_j/N + E[λ]/K with
E[λ] the mean of Beta(α, 1) (scipy). A class's observed frequency over M drawn labels must lie
within 5 binomial standard deviations sqrt(p (1 - p) / M) of its expected p (for one-hot
labels), or within 5 standard errors of the per-batch label mass (soft labels mixed with one
λ per batch).
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from kerasimb import methods
from kerasimb.data import ImageDataset

COUNTS = np.array([3000, 900, 300])
N, K = int(COUNTS.sum()), len(COUNTS)
BATCH = 200  # divides N: 21 batches are one epoch of an instance stream
STEPS = N // BATCH
Z = 5.0


def power(q):
    """p_j = n_j^q / sum_k n_k^q, by hand."""
    weights = COUNTS.astype(float) ** q
    return weights / weights.sum()


INSTANCE, SQRT, CLASS = power(1.0), power(0.5), power(0.0)


@pytest.fixture(scope="module")
def dataset():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), COUNTS)
    x = rng.integers(0, 256, (N, 4, 4, 1)).astype("uint8")
    small = (rng.integers(0, 256, (6, 4, 4, 1)).astype("uint8"), np.arange(6) % K)
    return ImageDataset((x, y), small, small, ["a", "b", "c"], name="long-tail")


def _labels(ds, batches, skip=0):
    """`(batches, BATCH, K)` labels of batches `skip` to `skip + batches` (a finite stream, one
    epoch, is repeated as `fit` does)."""
    if ds.cardinality() != tf.data.INFINITE_CARDINALITY:
        ds = ds.repeat()
    out = np.stack([element[-1].numpy() for element in ds.skip(skip).take(batches)])
    assert out.shape == (batches, BATCH, K)
    return out


def _assert_binomial(labels, expected, what):
    """One-hot labels: each class's frequency within Z binomial standard deviations."""
    np.testing.assert_array_equal(labels.max(-1), 1.0)  # one-hot: one label per example
    m = labels.shape[0] * labels.shape[1]
    freq = labels.reshape(m, K).sum(0) / m
    tolerance = Z * np.sqrt(expected * (1 - expected) / m)
    assert np.all(np.abs(freq - expected) <= tolerance), (
        f"{what}: observed class frequencies {freq.round(4).tolist()}, expected "
        f"{expected.round(4).tolist()} (tolerance {tolerance.round(4).tolist()}, {m} draws)")


# (method name, params, expected class probabilities of its training stream)
STATIONARY = [
    ("ce", {}, INSTANCE),
    ("reweight", {}, INSTANCE),  # re-weighting changes the loss, not the sampling
    ("focal", {}, INSTANCE),
    ("ldam-drw", {}, INSTANCE),
    ("class-sampling", {}, CLASS),
    ("sqrt-sampling", {}, SQRT),
    ("class-sampling+perturb", {}, CLASS),  # the modifier trains with the wrapped method
    ("sqrt-sampling+perturb", {}, SQRT),
    # before their callbacks set a schedule, the scheduled samplers draw by instance
    ("progressive-sampling", {}, INSTANCE),
    ("drs", {}, INSTANCE),
    ("aduni", {"augment": False}, INSTANCE),  # no sampler: shuffled epochs
    ("aduni", {"augment": False, "sampling": 0.0}, CLASS),
    ("aduni", {"augment": False, "sampling": 0.5}, SQRT),
    ("paco", {"augment": False, "sampling": 1.0}, INSTANCE),
]


@pytest.mark.parametrize("name, params, expected", STATIONARY,
                         ids=[f"{n}{p.get('sampling', '')}" for n, p, _ in STATIONARY])
def test_training_stream_draws_classes_with_the_sampler_frequencies(dataset, name, params,
                                                                    expected):
    ds, steps = methods.get(name, **params).train_dataset(dataset, BATCH, seed=1)
    assert steps == STEPS
    _assert_binomial(_labels(ds, 2 * STEPS), expected, name)


def test_progressive_sampling_moves_from_instance_to_class_by_epoch(dataset):
    epochs = 2
    method = methods.get("progressive-sampling")
    ds, steps = method.train_dataset(dataset, BATCH, seed=2)
    method.callbacks(dataset, epochs)  # sets the per-step schedule (steps known)
    for epoch in range(epochs + 1):  # epoch T and later: class sampling
        t = epoch / epochs
        _assert_binomial(_labels(ds, steps, skip=epoch * steps),
                         (1 - t) * INSTANCE + t * CLASS, f"epoch {epoch}")


def test_aduni_progressive_sampling_moves_from_instance_to_class_by_epoch(dataset):
    epochs = 2
    method = methods.get("aduni", sampling="progressive", augment=False, schedule=None)
    ds, steps = method.train_dataset(dataset, BATCH, seed=3)
    (progressive,) = method.callbacks(dataset, epochs)
    progressive.set_params({"steps": steps, "epochs": epochs})  # as `fit` does
    progressive.on_train_begin()
    for epoch in range(epochs + 1):
        t = epoch / epochs
        _assert_binomial(_labels(ds, steps, skip=epoch * steps),
                         (1 - t) * INSTANCE + t * CLASS, f"epoch {epoch}")


def test_deferred_resampling_switches_to_class_sampling_at_start_epoch(dataset):
    method = methods.get("drs", start_epoch=1)
    ds, steps = method.train_dataset(dataset, BATCH, seed=4)
    method.callbacks(dataset, epochs=3)
    _assert_binomial(_labels(ds, steps), INSTANCE, "epoch 0")
    _assert_binomial(_labels(ds, 2 * steps, skip=steps), CLASS, "epochs 1-2")


@pytest.mark.parametrize("name", ["mixup", "cutmix"])
def test_mixup_and_cutmix_label_mass_is_the_instance_frequency(dataset, name):
    # Both partners come from the instance stream, so the label mass of class j is n_j / N
    # whatever λ is (binomial tolerance: the mass per example lies in [0, 1]).
    ds, _ = methods.get(name, alpha=0.5).train_dataset(dataset, BATCH, seed=5)
    labels = _labels(ds, 2 * STEPS)
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-5)
    m = labels.shape[0] * BATCH
    mass = labels.reshape(m, K).mean(0)
    tolerance = Z * np.sqrt(INSTANCE * (1 - INSTANCE) / m)
    assert np.all(np.abs(mass - INSTANCE) <= tolerance), (mass, INSTANCE, tolerance)


def test_balanced_mixup_label_mass_mixes_instance_and_class_sampling(dataset):
    # y = (1 - λ) y_instance + λ y_class, λ ~ Beta(α, 1) on the class-sampled batch (one per
    # batch): E[y_j] = (1 - E[λ]) n_j / N + E[λ] / K.
    alpha = 0.5
    mean_lambda = stats.beta(alpha, 1.0).mean()
    expected = (1 - mean_lambda) * INSTANCE + mean_lambda * CLASS
    ds, _ = methods.get("balanced-mixup", alpha=alpha).train_dataset(dataset, BATCH, seed=6)
    per_batch = _labels(ds, 4 * STEPS).mean(1)  # (batches, K): batches are independent
    se = per_batch.std(0, ddof=1) / np.sqrt(len(per_batch))
    mass = per_batch.mean(0)
    assert np.all(np.abs(mass - expected) <= Z * se), (mass, expected, se)
    # the test can tell the right mix from the wrong ones (pure instance or class sampling,
    # or λ on the instance batch)
    swapped = mean_lambda * INSTANCE + (1 - mean_lambda) * CLASS
    for wrong in (INSTANCE, CLASS, swapped):
        assert np.any(np.abs(wrong - expected) > 2 * Z * se)
