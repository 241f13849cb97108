"""Each streaming metric against scikit-learn on random and degenerate inputs."""

import numpy as np
import pytest
from metric_references import METRIC_IDS, METRICS, REFERENCES, logits_for
from sklearn.metrics import cohen_kappa_score, matthews_corrcoef

from kerasimb.metrics import (
    BalancedAccuracy,
    MacroF1,
    MatthewsCorrelation,
    QuadraticKappa,
    SmallestClassRecall,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


def _stream(metric, y_true, y_pred, sample_weight=None, batches=(slice(None),)):
    for part in batches:
        weights = sample_weight
        if sample_weight is not None and np.ndim(sample_weight) > 0:
            weights = sample_weight[part]
        metric.update_state(y_true[part], y_pred[part], sample_weight=weights)
    return float(metric.result())


def _check(cls, y_true, y_pred, num_classes, sample_weight=None, atol=2e-6, **kwargs):
    """Compares `cls` fed with logits to its sklearn reference."""
    rng = np.random.default_rng(len(y_true))
    logits = logits_for(y_pred, num_classes, rng)
    expected = REFERENCES[cls](y_true, y_pred, sample_weight, num_classes, **kwargs)
    got = _stream(cls(num_classes, **kwargs), y_true, logits, sample_weight)
    assert not np.isnan(got)
    np.testing.assert_allclose(got, expected, atol=atol, err_msg=cls.__name__)
    return got


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
@pytest.mark.parametrize("num_classes", [2, 3, 5, 8])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_inputs_accumulated_over_batches(cls, num_classes, seed):
    rng = np.random.default_rng(seed)
    n = 150
    # Imbalanced labels, predictions right about 60% of the time.
    prior = np.exp(-np.arange(num_classes) * 0.6)
    y_true = rng.choice(num_classes, size=n, p=prior / prior.sum())
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, num_classes, n))
    weights = rng.uniform(0.1, 3.0, size=n).astype(np.float32) if seed == 1 else None
    logits = logits_for(y_pred, num_classes, rng)
    expected = REFERENCES[cls](y_true, y_pred, weights, num_classes)
    batches = (slice(0, 17), slice(17, 100), slice(100, n))
    got = _stream(cls(num_classes), y_true, logits, weights, batches)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def _degenerate_cases(num_classes):
    c = num_classes
    y = np.array([k % c for k in range(4 * c)] + [0] * c)
    cases = {
        "perfect": (y, y.copy()),
        "all_predictions_one_class": (y, np.zeros_like(y)),
        "all_predictions_last_class": (y, np.full_like(y, c - 1)),
        "class_never_predicted": (y, np.where(y == c - 1, 0, y)),
        "class_absent_from_y_true": (np.where(y == 1, 0, y), y.copy()),
        "all_labels_one_class": (np.zeros_like(y), y.copy()),
        "labels_and_predictions_one_class": (np.zeros_like(y), np.zeros_like(y)),
        "single_example": (np.array([1]), np.array([0])),
        "always_wrong": (y, (y + 1) % c),
    }
    return cases


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
@pytest.mark.parametrize("num_classes", [2, 4])
def test_degenerate_inputs(cls, num_classes):
    for case, (y_true, y_pred) in _degenerate_cases(num_classes).items():
        rng = np.random.default_rng(0)
        expected = REFERENCES[cls](y_true, y_pred, None, num_classes)
        got = _stream(cls(num_classes), y_true, logits_for(y_pred, num_classes, rng))
        assert not np.isnan(got), case
        np.testing.assert_allclose(got, expected, atol=2e-6, err_msg=case)


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_perfect_predictions_score_one(cls):
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    assert _check(cls, y, y, 3) == pytest.approx(1.0)


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_nothing_seen_gives_zero(cls):
    assert float(cls(3).result()) == 0.0


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_label_encodings_agree(cls):
    """Integer (B,), (B, 1), float integer-valued, one-hot and soft labels give one value."""
    rng = np.random.default_rng(3)
    c, n = 4, 40
    y = rng.integers(0, c, n)
    y_pred = np.where(rng.random(n) < 0.5, y, rng.integers(0, c, n))
    logits = logits_for(y_pred, c, rng)
    expected = REFERENCES[cls](y, y_pred, None, c)
    onehot = np.eye(c, dtype=np.float32)[y]
    other = np.eye(c, dtype=np.float32)[rng.integers(0, c, n)]
    soft = 0.7 * onehot + 0.3 * other  # MixUp target; argmax is still y
    for labels in (y, y[:, None], y.astype(np.float32), y.astype(np.int32), onehot, soft):
        got = _stream(cls(c), labels, logits)
        np.testing.assert_allclose(got, expected, atol=2e-6)


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_probabilities_and_logits_agree(cls):
    rng = np.random.default_rng(4)
    c, n = 3, 30
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = REFERENCES[cls](y, logits.argmax(axis=1), None, c)
    np.testing.assert_allclose(_stream(cls(c), y, logits), expected, atol=2e-6)
    np.testing.assert_allclose(_stream(cls(c), y, probs), expected, atol=2e-6)


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_sample_weight_forms(cls):
    rng = np.random.default_rng(5)
    c, n = 3, 36
    y = rng.integers(0, c, n)
    y_pred = np.where(rng.random(n) < 0.5, y, rng.integers(0, c, n))
    logits = logits_for(y_pred, c, rng)
    w = rng.uniform(0.5, 2.0, n).astype(np.float32)
    expected = REFERENCES[cls](y, y_pred, w, c)
    np.testing.assert_allclose(_stream(cls(c), y, logits, w), expected, atol=2e-6)
    np.testing.assert_allclose(_stream(cls(c), y, logits, w[:, None]), expected, atol=2e-6)
    # A scalar weight scales every row alike and leaves every ratio unchanged.
    unweighted = REFERENCES[cls](y, y_pred, None, c)
    np.testing.assert_allclose(_stream(cls(c), y, logits, 2.5), unweighted, atol=2e-6)
    # Integer repetition equals integer weights.
    reps = rng.integers(1, 4, n)
    np.testing.assert_allclose(
        _stream(cls(c), y, logits, reps.astype(np.float32)),
        _stream(cls(c), np.repeat(y, reps), np.repeat(logits, reps, axis=0)),
        atol=2e-6,
    )


@pytest.mark.parametrize("cls", METRICS, ids=METRIC_IDS)
def test_reset_state(cls):
    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 20)
    metric = cls(3)
    _stream(metric, y, logits_for((y + 1) % 3, 3, rng))
    metric.reset_state()
    assert np.all(metric.confusion_matrix.numpy() == 0)
    y_pred = np.where(rng.random(20) < 0.5, y, 0)
    expected = REFERENCES[cls](y, y_pred, None, 3)
    np.testing.assert_allclose(_stream(metric, y, logits_for(y_pred, 3, rng)), expected, atol=2e-6)


# --- metric-specific definitions ------------------------------------------------------------


def test_balanced_accuracy_majority_predictor_is_one_over_c():
    y = np.array([0] * 90 + [1] * 8 + [2] * 2)
    assert _check(BalancedAccuracy, y, np.zeros_like(y), 3) == pytest.approx(1 / 3)


def test_macro_f1_counts_predicted_only_class_and_skips_unseen_class():
    # Class 3 is never true and never predicted (left out); class 2 is only predicted (F1 0).
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])
    # By hand: F1_0 = 2/3, F1_1 = 1, F1_2 = 0 -> mean over 3 classes.
    got = _check(MacroF1, y_true, y_pred, 4)
    assert got == pytest.approx((2 / 3 + 1 + 0) / 3, abs=1e-6)


def test_matthews_zero_denominator_and_large_counts():
    y = np.array([0, 1, 2, 1])
    assert _check(MatthewsCorrelation, y, np.full_like(y, 2), 3) == 0.0
    # 2e6 weighted examples: proportions keep float32 accurate.
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 2000)
    y_pred = np.where(rng.random(2000) < 0.7, y, rng.integers(0, 4, 2000))
    w = np.full(2000, 1000.0, dtype=np.float32)
    _check(MatthewsCorrelation, y, y_pred, 4, sample_weight=w, atol=1e-5)


def test_quadratic_kappa_uses_class_index_weights():
    # Class 1 never occurs: sklearn's default renumbers classes {0, 2} as {0, 1}; we keep 0..2.
    y_true = np.array([0, 0, 2, 2, 0, 2])
    y_pred = np.array([0, 2, 2, 0, 0, 2])
    got = _check(QuadraticKappa, y_true, y_pred, 3)
    # By hand, proportions O = [[2, 1], [1, 2]] / 6 on classes {0, 2}, t = p = [1/2, 1/2],
    # E = 1/4 everywhere, weights (0-2)^2 = 4 off the diagonal -> 1 - (4 * 2/6) / (4 * 2/4).
    assert got == pytest.approx(1 - (2 / 6) / (2 / 4), abs=1e-6)
    # When every class occurs, the sklearn default agrees.
    y_true, y_pred = np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0])
    got = _check(QuadraticKappa, y_true, y_pred, 3)
    assert got == pytest.approx(cohen_kappa_score(y_true, y_pred, weights="quadratic"), abs=1e-6)


def test_quadratic_kappa_zero_where_sklearn_gives_nan():
    y = np.array([1, 1, 1])
    assert np.isnan(cohen_kappa_score(y, y, weights="quadratic", labels=[0, 1, 2]))
    assert _check(QuadraticKappa, y, y, 3) == 0.0


def test_smallest_class_recall_with_class_counts():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 0, 2, 2, 0])
    # Rarest training class is 1 (recall 1/2 by hand), whatever the evaluated support says.
    got = _check(SmallestClassRecall, y_true, y_pred, 3, class_counts=[100, 5, 30])
    assert got == pytest.approx(0.5)
    # Ties in class_counts go to the lowest index: class 0, recall 2/3.
    got = _check(SmallestClassRecall, y_true, y_pred, 3, class_counts=[5, 5, 30])
    assert got == pytest.approx(2 / 3)
    # Rarest training class absent from the evaluated data: 0, not NaN.
    got = _check(SmallestClassRecall, y_true, y_pred, 4, class_counts=[100, 5, 30, 2])
    assert got == 0.0


def test_smallest_class_recall_without_class_counts():
    # Supports: class 0 -> 3, class 1 -> 2, class 2 -> 2, class 3 -> 0 (absent, ignored).
    y_true = np.array([0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 0, 2, 2])
    # Tie between classes 1 and 2 goes to class 1: recall 1/2 by hand.
    assert _check(SmallestClassRecall, y_true, y_pred, 4) == pytest.approx(0.5)
    # Weighted support decides: class 2 weighs less than class 1 here, recall 1.
    w = np.array([1, 1, 1, 1, 1, 0.5, 0.5], dtype=np.float32)
    assert _check(SmallestClassRecall, y_true, y_pred, 4, sample_weight=w) == pytest.approx(1.0)


def test_references_are_sane():
    """Guards the reference functions themselves on hand-computed values."""
    y_true, y_pred = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2])
    cm = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    n, t, p = cm.sum(), cm.sum(1), cm.sum(0)
    mcc = (np.trace(cm) * n - t @ p) / np.sqrt((n**2 - p @ p) * (n**2 - t @ t))
    assert matthews_corrcoef(y_true, y_pred) == pytest.approx(mcc)
    assert REFERENCES[BalancedAccuracy](y_true, y_pred, None, 3) == pytest.approx(2.5 / 3)
