"""Calibration figures against a naive numpy re-derivation, sklearn and cases with known answers."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from kerasimb import metrics
from kerasimb.metrics import calibration


def _random_probabilities(rng, n, c, sharpness=3.0):
    logits = rng.normal(size=(n, c)) * sharpness
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def _naive_ece(score, hit, bins):
    """Bins by explicit boundaries (the first N % bins bins hold one image more); an image
    whose score equals the previous image's joins that image's bin."""
    n = len(score)
    bins = min(bins, n)
    order = sorted(range(n), key=lambda i: (score[i], i))
    sizes = [n // bins + (1 if b < n % bins else 0) for b in range(bins)]
    assigned, start = {}, 0
    for b, size in enumerate(sizes):
        for i in order[start:start + size]:
            assigned[i] = b
        start += size
    for previous, current in zip(order, order[1:]):
        if score[current] == score[previous]:
            assigned[current] = assigned[previous]
    total = 0.0
    for b in set(assigned.values()):
        members = [i for i in order if assigned[i] == b]
        acc = sum(hit[i] for i in members) / len(members)
        conf = sum(score[i] for i in members) / len(members)
        total += len(members) / n * abs(acc - conf)
    return total


@pytest.mark.parametrize("n,c,bins,rounded", [(100, 2, 15, False), (157, 3, 15, False),
                                               (40, 5, 7, False), (9, 4, 15, False),
                                               (300, 3, 15, True)])
def test_ece_equals_a_naive_loop(n, c, bins, rounded):
    rng = np.random.default_rng(n + c)
    p = _random_probabilities(rng, n, c)
    if rounded:  # many tied scores (a model that outputs few distinct probabilities)
        p = np.round(p, 1)
        p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
        p = np.clip(p, 0.0, 1.0)
        p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, c, n)
    conf = p.max(axis=1)
    hit = (p.argmax(axis=1) == y).astype(float)
    assert calibration.expected_calibration_error(y, p, bins) == pytest.approx(
        _naive_ece(conf, hit, bins), abs=1e-12)
    classwise = np.mean([_naive_ece(p[:, k], (y == k).astype(float), bins) for k in range(c)])
    assert calibration.classwise_expected_calibration_error(y, p, bins) == pytest.approx(
        classwise, abs=1e-12)


def test_ece_of_a_constant_overconfident_model_is_the_gap():
    # Every image predicted with confidence 0.9, 60 % right: every bin is off by 0.3.
    y = np.array([0] * 60 + [1] * 40)
    p = np.tile([0.9, 0.1], (100, 1))
    assert calibration.expected_calibration_error(y, p) == pytest.approx(0.3)


def test_ece_of_calibrated_probabilities_is_small_and_of_shifted_ones_is_not():
    rng = np.random.default_rng(0)
    p = _random_probabilities(rng, 20000, 3, sharpness=2.0)
    y = np.array([rng.choice(3, p=row) for row in p])  # labels drawn from the predictions
    assert calibration.expected_calibration_error(y, p) < 0.02
    assert calibration.classwise_expected_calibration_error(y, p) < 0.02
    sharpened = p ** 3 / (p ** 3).sum(axis=1, keepdims=True)
    assert calibration.expected_calibration_error(y, sharpened) > 0.1


def test_brier_and_nll_equal_sklearn():
    rng = np.random.default_rng(1)
    p = _random_probabilities(rng, 200, 2)
    y = rng.integers(0, 2, 200)
    # For two classes the sum over classes counts the positive class's squared error twice.
    assert calibration.brier_score(y, p) == pytest.approx(2 * brier_score_loss(y, p[:, 1]))
    p4 = _random_probabilities(rng, 200, 4)
    y4 = rng.integers(0, 4, 200)
    assert calibration.negative_log_likelihood(y4, p4) == pytest.approx(
        log_loss(y4, p4, labels=[0, 1, 2, 3]))
    onehot = np.eye(4)[y4]
    assert calibration.brier_score(y4, p4) == pytest.approx(
        np.mean([np.sum((row - t) ** 2) for row, t in zip(p4, onehot)]))


def test_nll_of_a_hard_zero_is_large_but_finite():
    value = calibration.negative_log_likelihood([0], [[0.0, 1.0]])
    assert value == pytest.approx(-np.log(calibration.PROBABILITY_FLOOR))


def test_reliability_bins_cover_every_image_in_increasing_confidence():
    rng = np.random.default_rng(2)
    p = _random_probabilities(rng, 101, 3)
    y = rng.integers(0, 3, 101)
    out = calibration.reliability_bins(y, p, bins=15)
    assert out["count"].sum() == 101 and len(out["count"]) == 15
    assert (np.diff(out["confidence"]) >= 0).all()
    assert (out["lower"] <= out["confidence"]).all() and (out["confidence"] <= out["upper"]).all()
    # The weighted gap of the bins is the ECE.
    gap = np.sum(out["count"] * np.abs(out["accuracy"] - out["confidence"])) / 101
    assert gap == pytest.approx(calibration.expected_calibration_error(y, p))


def test_report_returns_the_calibration_figures():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(60, 3)) * 2
    y = rng.integers(0, 3, 60)
    out = metrics.report(y, logits, from_logits=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert out["nll"] == pytest.approx(log_loss(y, p, labels=[0, 1, 2]))
    assert out["brier"] == pytest.approx(calibration.brier_score(y, p))
    assert out["ece"] == pytest.approx(calibration.expected_calibration_error(y, p))
    assert out["classwise_ece"] == pytest.approx(
        calibration.classwise_expected_calibration_error(y, p))
    assert set(metrics.CALIBRATION_METRICS) <= set(out)
    assert not set(metrics.CALIBRATION_METRICS) & set(metrics.SCALAR_METRICS)  # never selected


@pytest.mark.parametrize("p,match", [
    ([[0.5, 0.6]], "summing to 1"),
    ([[-0.1, 1.1]], "non-negative"),
    ([[np.nan, 1.0]], "finite"),
    ([0.5, 0.5], "shape"),
])
def test_bad_probabilities_are_named(p, match):
    with pytest.raises(ValueError, match=match):
        calibration.expected_calibration_error([0], p)


def test_bad_labels_and_bins_are_named():
    with pytest.raises(ValueError, match="y_true"):
        calibration.brier_score([2], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="same number"):
        calibration.brier_score([0, 1], [[0.5, 0.5]])
    with pytest.raises(ValueError, match="bins"):
        calibration.expected_calibration_error([0], [[0.5, 0.5]], bins=0)


def test_calibration_figures_equal_each_function():
    rng = np.random.default_rng(7)
    p = _random_probabilities(rng, 90, 4)
    y = rng.integers(0, 4, 90)
    out = calibration.calibration_figures(y, p, bins=10)
    assert out["ece"] == calibration.expected_calibration_error(y, p, 10)
    assert out["classwise_ece"] == calibration.classwise_expected_calibration_error(y, p, 10)
    assert out["brier"] == pytest.approx(calibration.brier_score(y, p), abs=1e-15)
    assert out["nll"] == calibration.negative_log_likelihood(y, p)
