"""kerasimb.metrics.bootstrap: the vectorised metrics against `metrics.report`, scikit-learn and
scipy; the paired two-level bootstrap (pairing, determinism, reliability, errors); and the
coverage of its interval on simulated pairs of classifiers whose true difference is known."""

import numpy as np
import pytest
from scipy.stats import kendalltau
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from kerasimb.metrics import (BOOTSTRAP_METRICS, SCALAR_METRICS, paired_bootstrap, report,
                              resampled_metric, verdict_from_interval)


def _probabilities(rng, n, num_classes, ties=False):
    p = rng.dirichlet(np.full(num_classes, 0.5), n)
    if ties:  # coarse scores: many ties inside a class's column
        p = np.round(p, 1) + 1e-3
        p /= p.sum(axis=1, keepdims=True)
    return p


def _same(a, b):
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-9


def test_every_scalar_report_metric_is_supported():
    assert tuple(BOOTSTRAP_METRICS) == tuple(SCALAR_METRICS)


@pytest.mark.parametrize("num_classes", [2, 3, 5, 8])
@pytest.mark.parametrize("ties", [False, True])
def test_resampled_metrics_equal_report_on_every_resample(num_classes, ties):
    rng = np.random.default_rng(num_classes + 10 * ties)
    checked_absent = 0
    for trial in range(12):
        n = int(rng.integers(1, 30))
        y = rng.integers(0, max(2, num_classes - trial % 3), n)  # some classes never present
        if trial % 4 == 0:
            y[:] = trial % num_classes  # one class only
        p = _probabilities(rng, n, num_classes, ties)
        indices = rng.integers(0, n, (6, n))
        counts = rng.integers(1, 50, num_classes).tolist()
        for metric in BOOTSTRAP_METRICS:
            for class_counts in ([None, counts] if metric == "smallest_class_recall" else [None]):
                values = resampled_metric(y, p, indices, metric, class_counts=class_counts)
                assert values.shape == (6,)
                for r in range(6):
                    expected = report(y[indices[r]], p[indices[r]],
                                      class_counts=class_counts)[metric]
                    assert _same(values[r], expected), (metric, trial, r, values[r], expected)
        checked_absent += sum(len(np.unique(y[i])) < num_classes for i in indices)
    assert checked_absent > 0  # resamples with absent classes were among those checked


def test_auc_and_kendall_tau_equal_sklearn_and_scipy():
    rng = np.random.default_rng(7)
    for num_classes in (2, 4):
        y = np.r_[np.arange(num_classes), rng.integers(0, num_classes, 60)]
        p = _probabilities(rng, len(y), num_classes, ties=True)
        indices = np.r_[[np.arange(len(y))], rng.integers(0, len(y), (5, len(y)))]
        auc = resampled_metric(y, p, indices, "auc")
        tau = resampled_metric(y, p, indices, "kendall_tau")
        ba = resampled_metric(y, p, indices, "balanced_accuracy")
        for r, i in enumerate(indices):
            if len(np.unique(y[i])) == num_classes:
                expected = (roc_auc_score(y[i], p[i, 1]) if num_classes == 2 else
                            roc_auc_score(y[i], p[i], multi_class="ovr", average="macro"))
                assert auc[r] == pytest.approx(expected, abs=1e-12)
            else:
                assert np.isnan(auc[r])
            assert tau[r] == pytest.approx(kendalltau(y[i], p[i].argmax(1)).statistic, abs=1e-12)
            assert ba[r] == pytest.approx(balanced_accuracy_score(y[i], p[i].argmax(1)),
                                          abs=1e-12)


def test_resampled_metric_errors():
    y, p = np.array([0, 1, 1]), np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"`metric`.*'balanced_accuracy'.*Received: metric='f2'"):
        resampled_metric(y, p, [[0, 1, 2]], "f2")
    with pytest.raises(ValueError, match=r"`indices`.*\[0, 2\]"):
        resampled_metric(y, p, [[0, 3, 1]])
    with pytest.raises(ValueError, match=r"`indices`.*shape \(3,\)"):
        resampled_metric(y, p, [0, 1, 2])
    with pytest.raises(ValueError, match="same, non-zero number"):
        resampled_metric(y[:2], p, [[0, 1]])
    with pytest.raises(ValueError, match="probabilities"):
        resampled_metric(y, p * 3, [[0, 1, 2]])


def _scores(rng, y, accuracy, num_classes):
    right = rng.random(len(y)) < accuracy
    predicted = np.where(right, y, (y + rng.integers(1, num_classes, len(y))) % num_classes)
    p = np.full((len(y), num_classes), 0.2 / (num_classes - 1))
    p[np.arange(len(y)), predicted] = 0.8
    return p


def test_identical_method_and_baseline_give_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 50)
    scores = [_scores(rng, y, 0.7, 3) for _ in range(3)]
    for metric in BOOTSTRAP_METRICS:
        out = paired_bootstrap(y, scores, [s.copy() for s in scores], metric=metric, draws=200)
        assert (out["difference"], out["low"], out["high"]) == (0.0, 0.0, 0.0), metric
        assert out["verdict"] == "not shown"


def test_point_estimate_is_the_mean_over_seeds_of_the_report_differences():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 80)
    method = [_scores(rng, y, 0.8, 4) for _ in range(3)]
    baseline = [_scores(rng, y, 0.6, 4) for _ in range(3)]
    for metric in ("balanced_accuracy", "macro_f1", "mcc", "auc"):
        out = paired_bootstrap(y, method, baseline, metric=metric, draws=100)
        expected = np.mean([report(y, m)[metric] - report(y, b)[metric]
                            for m, b in zip(method, baseline)])
        assert out["difference"] == pytest.approx(expected, abs=1e-12)
        assert out["low"] <= out["high"]
        assert out["metric"] == metric and out["draws"] == 100 and out["num_seeds"] == 3


def test_deterministic_given_the_seed_and_reliable_from_three_seeds():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 60)
    method = [_scores(rng, y, 0.75, 3) for _ in range(3)]
    baseline = [_scores(rng, y, 0.65, 3) for _ in range(3)]
    first = paired_bootstrap(y, method, baseline, draws=300, seed=5)
    assert paired_bootstrap(y, method, baseline, draws=300, seed=5) == first
    other = paired_bootstrap(y, method, baseline, draws=300, seed=6)
    assert (other["low"], other["high"]) != (first["low"], first["high"])
    assert other["difference"] == first["difference"]
    assert first["reliable"] is True
    two = paired_bootstrap(y, method[:2], baseline[:2], draws=300)
    assert two["reliable"] is False and two["num_seeds"] == 2
    one = paired_bootstrap(y, method[:1], baseline[:1], draws=300)
    assert one["reliable"] is False and one["low"] < one["high"]  # the images still vary


def test_the_images_are_paired():
    # The method fixes 15 of the baseline's mistakes and changes nothing else: every resample
    # of the same images shows it ahead, although either figure alone varies far more.
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 250)
    baseline = _scores(rng, y, 0.7, 2)
    method = baseline.copy()
    wrong = np.flatnonzero(baseline.argmax(1) != y)[:15]
    method[wrong] = baseline[wrong][:, ::-1]
    out = paired_bootstrap(y, [method] * 3, [baseline] * 3, draws=500)
    assert out["difference"] == pytest.approx(15 / 250 / 2)
    assert out["low"] > 0 and out["verdict"] == "holds"
    alone = resampled_metric(y, baseline, np.random.default_rng(0).integers(0, 500, (500, 500)))
    spread = np.percentile(alone, 97.5) - np.percentile(alone, 2.5)
    assert out["high"] - out["low"] < spread / 2


def test_the_seeds_are_resampled():
    # Seeds that disagree (one far ahead, one far behind, one even) must widen the interval
    # past zero on both sides, however many images there are.
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 2000)
    baseline = [_scores(rng, y, 0.7, 2) for _ in range(3)]
    method = [_scores(rng, y, a, 2) for a in (0.9, 0.7, 0.5)]
    out = paired_bootstrap(y, method, baseline, draws=500)
    assert out["low"] < -0.05 and out["high"] > 0.05 and out["verdict"] == "not shown"
    reversed_out = paired_bootstrap(y, baseline, [_scores(rng, y, 0.9, 2) for _ in range(3)],
                                    draws=500)
    assert reversed_out["verdict"] == "reversed" and reversed_out["high"] < 0


def test_folds_with_their_own_test_images():
    rng = np.random.default_rng(5)
    ys = [rng.integers(0, 3, n) for n in (40, 55, 47)]
    method = [_scores(rng, y, 0.9, 3) for y in ys]
    baseline = [_scores(rng, y, 0.5, 3) for y in ys]
    out = paired_bootstrap(ys, method, baseline, draws=200)
    expected = np.mean([report(y, m)["balanced_accuracy"] - report(y, b)["balanced_accuracy"]
                        for y, m, b in zip(ys, method, baseline)])
    assert out["difference"] == pytest.approx(expected) and out["verdict"] == "holds"
    with pytest.raises(ValueError, match=r"one label array per seed or fold \(3\)"):
        paired_bootstrap(ys[:2], method, baseline)
    with pytest.raises(ValueError, match="seed/fold 1"):
        paired_bootstrap([ys[0], ys[0], ys[2]], method, baseline)


def test_undefined_metric_gives_no_interval():
    y = np.array([0, 0, 1, 1, 0, 1])  # class 2 never occurs: the AUC is undefined
    rng = np.random.default_rng(6)
    method = [_scores(rng, y, 0.8, 3) for _ in range(3)]
    out = paired_bootstrap(y, method, method[::-1], metric="auc", draws=100)
    assert np.isnan(out["difference"]) and np.isnan(out["low"]) and np.isnan(out["high"])
    assert out["undefined_draws"] == 100 and out["verdict"] == "not shown"


def test_bad_arguments_name_the_argument_and_value():
    y = np.array([0, 1, 1, 0])
    s = [np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5], [0.9, 0.1]])] * 3
    with pytest.raises(ValueError, match=r"`metric`.*supported metrics.*'auc'.*metric='f2'"):
        paired_bootstrap(y, s, s, metric="f2")
    with pytest.raises(ValueError, match=r"`draws`.*>= 100.*draws=99"):
        paired_bootstrap(y, s, s, draws=99)
    for confidence in (0.0, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="`confidence`"):
            paired_bootstrap(y, s, s, confidence=confidence)
    with pytest.raises(TypeError, match="`draws`"):
        paired_bootstrap(y, s, s, draws=200.0)
    with pytest.raises(ValueError, match="one array per seed or fold each.*3 and 2"):
        paired_bootstrap(y, s, s[:2])
    with pytest.raises(ValueError, match="wrap a single array in a list"):
        paired_bootstrap(y, s[0], s[0])
    with pytest.raises(ValueError, match=r"scores_baseline\[0\].*Expected 2 columns.*\(4, 3\)"):
        paired_bootstrap(y, s, [np.full((4, 3), 1 / 3)] * 3)
    with pytest.raises(ValueError, match=r"seed/fold 0.*3 labels"):
        paired_bootstrap(y[:3], s, s)
    with pytest.raises(ValueError, match=r"scores_method\[1\].*probabilities"):
        paired_bootstrap(y, [s[0], s[0] * 2, s[0]], s)
    with pytest.raises(ValueError, match="`y_true`.*labels in"):
        paired_bootstrap([0, 1, 2, 0], s, s)
    with pytest.raises(ValueError, match="`scores_method`.*non-empty"):
        paired_bootstrap(y, [], [])


@pytest.mark.parametrize("low, high, verdict", [
    (0.001, 0.2, "holds"), (-0.2, -0.001, "reversed"), (-0.01, 0.01, "not shown"),
    (0.0, 0.1, "not shown"), (-0.1, 0.0, "not shown"), (float("nan"), 0.1, "not shown"),
    (None, None, "not shown"),
])
def test_verdict_from_interval(low, high, verdict):
    assert verdict_from_interval(low, high) == verdict


# --- coverage on simulated pairs of classifiers --------------------------------------------------
#
# A population of 50,000 test images in 3 imbalanced classes, each with a difficulty shared by
# both classifiers (so their mistakes are correlated, as on real images). On image i a
# classifier is right with probability q(i) + shift, where the shift is drawn once per seed
# (mean 0, the seed-to-seed variation of training) and a wrong prediction is a random other
# class. The true balanced accuracy of a classifier is the population's mean over classes of
# the mean of q over that class's images, so the true difference is known exactly. Each
# repetition draws N test images and S seeds of both classifiers and computes the interval.

CLASSES = 3


def _population(rng, size=50_000):
    y = rng.choice(CLASSES, size=size, p=[0.6, 0.3, 0.1])
    difficulty = rng.beta(2, 2, size=size)
    # in [0.05, 0.85], so that q + gain (gain <= 0.1) plus the seed shifts stays inside [0, 1]
    q_baseline = np.clip(np.array([0.8, 0.7, 0.55])[y] - 0.4 * (difficulty - 0.5), 0.05, 0.85)
    return y, q_baseline


def _true_balanced_accuracy(y, q):
    return np.mean([q[y == c].mean() for c in range(CLASSES)])


def _seed_outputs(rng, y, q, seed_sd):
    right = rng.random(len(y)) < np.clip(q + rng.normal(0.0, seed_sd), 0.0, 1.0)
    predicted = np.where(right, y, (y + rng.integers(1, CLASSES, len(y))) % CLASSES)
    p = np.full((len(y), CLASSES), 0.05)
    p[np.arange(len(y)), predicted] = 0.9
    return p


def _coverage(gain, repetitions=200, n=1000, seeds=3, seed_sd=0.02, draws=500):
    rng = np.random.default_rng(123)
    y, q_baseline = _population(rng)
    q_method = q_baseline + gain
    truth = _true_balanced_accuracy(y, q_method) - _true_balanced_accuracy(y, q_baseline)
    covered = holds = 0
    for repetition in range(repetitions):
        test = rng.choice(len(y), n, replace=False)
        out = paired_bootstrap(
            y[test], [_seed_outputs(rng, y[test], q_method[test], seed_sd) for _ in range(seeds)],
            [_seed_outputs(rng, y[test], q_baseline[test], seed_sd) for _ in range(seeds)],
            draws=draws, seed=repetition)
        covered += out["low"] <= truth <= out["high"]
        holds += out["verdict"] == "holds"
    return truth, covered / repetitions, holds / repetitions


def test_interval_covers_a_true_difference_and_excludes_zero():
    truth, covered, holds = _coverage(gain=0.10)
    assert truth == pytest.approx(0.10)
    assert covered >= 0.90, covered  # the bar: at least 90 % of repetitions
    assert holds >= 0.90, holds  # and not so wide that a real gain of 0.1 goes unseen


def test_interval_covers_no_difference_and_rarely_claims_one():
    truth, covered, holds = _coverage(gain=0.0)
    assert truth == 0.0
    assert covered >= 0.90, covered
    assert holds <= 0.05, holds
