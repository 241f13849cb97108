"""`kerasimb.metrics.report` against scikit-learn, scipy and numpy by hand."""

import json
import math

import numpy as np
import pytest
import scipy.special
import scipy.stats
from metric_references import METRICS, REFERENCES
from sklearn import metrics as skm

from kerasimb.api_export import PUBLIC_API
from kerasimb.metrics import report

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

KEYS = {
    "ece",
    "classwise_ece",
    "brier",
    "nll",
    "num_examples",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "mcc",
    "quadratic_kappa",
    "kendall_tau",
    "auc",
    "per_class_recall",
    "smallest_class_recall",
    "recall_most_frequent",
    "recall_least_frequent",
    "confusion_matrix",
}


def _random_case(seed, num_classes, n=300):
    rng = np.random.default_rng(seed)
    prior = np.exp(-np.arange(num_classes) * 0.4)
    y = rng.choice(num_classes, size=n, p=prior / prior.sum())
    y[:num_classes] = np.arange(num_classes)  # every class present
    logits = rng.normal(size=(n, num_classes)) + 1.5 * np.eye(num_classes)[y]
    return y, logits, scipy.special.softmax(logits, axis=1)


def _hand_recall(y, y_pred, k):
    mask = y == k
    return float(np.mean(y_pred[mask] == k)) if mask.any() else float("nan")


def _assert_equal_nan(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), equal_nan=True, **kw)


@pytest.mark.parametrize("num_classes", [2, 3, 6, 8])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_inputs_against_sklearn_and_scipy(num_classes, seed):
    y, logits, probs = _random_case(seed, num_classes)
    y_pred = probs.argmax(axis=1)
    out = report(y, probs)
    labels = np.arange(num_classes)
    assert set(out) == KEYS | ({"sensitivity", "specificity"} if num_classes == 2 else set())
    assert out["num_examples"] == len(y)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, y_pred))
    assert out["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, y_pred))
    assert out["macro_f1"] == pytest.approx(skm.f1_score(y, y_pred, average="macro"))
    assert out["mcc"] == pytest.approx(skm.matthews_corrcoef(y, y_pred))
    assert out["quadratic_kappa"] == pytest.approx(
        skm.cohen_kappa_score(y, y_pred, weights="quadratic", labels=labels)
    )
    assert out["kendall_tau"] == pytest.approx(scipy.stats.kendalltau(y, y_pred).statistic)
    if num_classes == 2:
        expected_auc = skm.roc_auc_score(y, probs[:, 1])
    else:
        expected_auc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert out["auc"] == pytest.approx(expected_auc)
    assert out["nll"] == pytest.approx(skm.log_loss(y, probs, labels=labels))
    onehot = np.eye(num_classes)[y]
    assert out["brier"] == pytest.approx(np.mean(np.sum((probs - onehot) ** 2, axis=1)))
    recalls = skm.recall_score(y, y_pred, labels=labels, average=None)
    assert list(out["per_class_recall"]) == [str(k) for k in labels]
    np.testing.assert_allclose(list(out["per_class_recall"].values()), recalls)
    assert out["confusion_matrix"] == skm.confusion_matrix(y, y_pred, labels=labels).tolist()
    # Smallest class and frequency groups from the support, by hand.
    support = np.bincount(y, minlength=num_classes)
    assert out["smallest_class_recall"] == pytest.approx(recalls[np.argmin(support)])
    k = 3 if num_classes >= 6 else max(num_classes // 2, 1)
    by_support = np.argsort(support, kind="stable")
    assert out["recall_least_frequent"] == pytest.approx(recalls[by_support[:k]].mean())
    most = sorted(labels, key=lambda c: (-support[c], c))[:k]
    assert out["recall_most_frequent"] == pytest.approx(recalls[most].mean())
    # Logits give the same report.
    from_logits = report(y, logits, from_logits=True)
    for key in KEYS:
        _assert_equal_nan(_flat(from_logits[key]), _flat(out[key]), rtol=1e-12, err_msg=key)


def _flat(value):
    return list(value.values()) if isinstance(value, dict) else value


@pytest.mark.parametrize("num_classes", [2, 4])
def test_figures_equal_the_streaming_metrics(num_classes):
    """The report and the compile-time metrics agree on one definition per figure."""
    y, logits, probs = _random_case(5, num_classes, n=120)
    out = report(y, probs)
    y_pred = probs.argmax(axis=1)
    names = {
        "BalancedAccuracy": "balanced_accuracy",
        "MacroF1": "macro_f1",
        "MatthewsCorrelation": "mcc",
        "QuadraticKappa": "quadratic_kappa",
        "SmallestClassRecall": "smallest_class_recall",
    }
    for cls in METRICS:
        expected = REFERENCES[cls](y, y_pred, None, num_classes)
        assert out[names[cls.__name__]] == pytest.approx(expected)
        metric = cls(num_classes)
        metric.update_state(y, logits.astype(np.float32))
        assert out[names[cls.__name__]] == pytest.approx(float(metric.result()), abs=1e-6)


def test_binary_sensitivity_specificity_from_hand_built_matrix():
    # TP = 3, FN = 1, TN = 4, FP = 2 for positive class 1.
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p1 = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.4, 0.2, 0.6, 0.55])
    probs = np.stack([1 - p1, p1], axis=1)
    out = report(y, probs, class_names=["healthy", "disease"])
    assert out["confusion_matrix"] == [[4, 2], [1, 3]]
    assert out["sensitivity"] == pytest.approx(3 / 4)
    assert out["specificity"] == pytest.approx(4 / 6)
    assert out["per_class_recall"] == pytest.approx({"healthy": 4 / 6, "disease": 3 / 4})
    assert out["accuracy"] == pytest.approx(7 / 10)
    # AUC by hand: fraction of (positive, negative) pairs ranked correctly.
    pos, neg = p1[y == 1], p1[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert out["auc"] == pytest.approx(pairs)
    # Positive class 0 swaps sensitivity and specificity; the AUC of class 0's score is the same.
    swapped = report(y, probs, positive_class=0)
    assert swapped["sensitivity"] == pytest.approx(4 / 6)
    assert swapped["specificity"] == pytest.approx(3 / 4)
    assert swapped["auc"] == pytest.approx(pairs)


def test_frequency_groups_from_class_counts():
    num_classes = 8
    class_counts = [500, 40, 300, 7, 90, 12, 200, 7]
    y, _, probs = _random_case(3, num_classes)
    y_pred = probs.argmax(axis=1)
    out = report(y, probs, class_counts=class_counts)
    recall = [_hand_recall(y, y_pred, k) for k in range(num_classes)]
    # Most frequent by counts: 0 (500), 2 (300), 6 (200); least: 3 (7), 7 (7, tie -> 3 first), 5.
    assert out["recall_most_frequent"] == pytest.approx(np.mean([recall[0], recall[2], recall[6]]))
    assert out["recall_least_frequent"] == pytest.approx(np.mean([recall[3], recall[7], recall[5]]))
    assert out["smallest_class_recall"] == pytest.approx(recall[3])


@pytest.mark.parametrize("num_classes, k", [(2, 1), (3, 1), (4, 2), (5, 2), (6, 3), (9, 3)])
def test_group_size(num_classes, k):
    # Class c has c + 1 training examples: the k most frequent are the last k classes.
    class_counts = list(range(1, num_classes + 1))
    y, _, probs = _random_case(4, num_classes)
    y_pred = probs.argmax(axis=1)
    recall = np.array([_hand_recall(y, y_pred, c) for c in range(num_classes)])
    out = report(y, probs, class_counts=class_counts)
    assert out["recall_most_frequent"] == pytest.approx(recall[-k:].mean())
    assert out["recall_least_frequent"] == pytest.approx(recall[:k].mean())


def test_group_size_argument_sets_each_group():
    # Zeng et al.'s Skin7 groups: the 3 most and the 2 least frequent of 7 classes.
    class_counts = [6705, 1113, 1099, 514, 327, 142, 115]
    y, _, probs = _random_case(5, 7)
    recall = np.array([_hand_recall(y, probs.argmax(axis=1), c) for c in range(7)])
    out = report(y, probs, class_counts=class_counts, group_size=(3, 2))
    assert out["recall_most_frequent"] == pytest.approx(recall[[0, 1, 2]].mean())
    assert out["recall_least_frequent"] == pytest.approx(recall[[6, 5]].mean())
    assert report(y, probs, class_counts=class_counts)["recall_least_frequent"] == pytest.approx(
        recall[[6, 5, 4]].mean())  # the default rule: 3 each
    assert report(y, probs, class_counts=class_counts, group_size=1)[
        "recall_least_frequent"] == pytest.approx(recall[6])
    for bad in (0, 8, (3,), (3, 0), "3", (2.0, 2), True):
        with pytest.raises(ValueError, match="group_size"):
            report(y, probs, group_size=bad)


def test_class_absent_from_y_true():
    # Class 2 never occurs in y_true, but is predicted once.
    y = np.array([0, 0, 0, 1, 1, 3])
    probs = np.eye(4)[[0, 0, 2, 1, 0, 3]] * 0.7 + 0.075
    out = report(y, probs, class_names=["a", "b", "c", "d"], class_counts=[50, 20, 5, 10])
    assert math.isnan(out["auc"])
    assert math.isnan(out["per_class_recall"]["c"])
    assert out["per_class_recall"]["a"] == pytest.approx(2 / 3)
    assert out["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    y_pred = probs.argmax(axis=1)
    assert out["macro_f1"] == pytest.approx(skm.f1_score(y, y_pred, average="macro"))
    # Rarest training class (2) is absent: NaN, not 0.
    assert math.isnan(out["smallest_class_recall"])
    # Least frequent by counts: classes 2 (absent, skipped) and 3 -> recall of 3 alone.
    assert out["recall_least_frequent"] == pytest.approx(1.0)
    assert out["recall_most_frequent"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    # Without class_counts only present classes are ranked: smallest is class 3 (1 example).
    out = report(y, probs)
    assert out["smallest_class_recall"] == pytest.approx(1.0)
    assert out["recall_least_frequent"] == pytest.approx((1.0 + 1 / 2) / 2)
    assert out["recall_most_frequent"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_all_absent_least_group_is_nan():
    y = np.array([0, 0, 1, 1])
    probs = np.eye(4)[[0, 1, 1, 1]]
    out = report(y, probs, class_counts=[100, 90, 2, 1])
    assert math.isnan(out["recall_least_frequent"])
    assert out["recall_most_frequent"] == pytest.approx((1 / 2 + 1) / 2)


def test_all_predictions_one_class():
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.tile([0.2, 0.5, 0.3], (6, 1))
    out = report(y, probs)
    assert math.isnan(out["kendall_tau"])
    assert math.isnan(scipy.stats.kendalltau(y, np.ones(6)).statistic)
    assert out["mcc"] == 0.0 == skm.matthews_corrcoef(y, np.ones(6))
    assert out["balanced_accuracy"] == pytest.approx(1 / 3)
    assert out["auc"] == pytest.approx(0.5)  # constant scores rank nothing


def test_perfect_predictions():
    y = np.array([0, 1, 2, 3, 3, 2])
    out = report(y, np.eye(4)[y])
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "mcc", "quadratic_kappa", "auc"):
        assert out[key] == pytest.approx(1.0), key
    assert out["kendall_tau"] == pytest.approx(1.0)
    assert out["per_class_recall"] == {"0": 1.0, "1": 1.0, "2": 1.0, "3": 1.0}


def test_single_class_labels_and_predictions():
    y = np.zeros(5, dtype=int)
    out = report(y, np.tile([0.9, 0.1], (5, 1)))
    assert out["accuracy"] == 1.0
    assert out["quadratic_kappa"] == 0.0  # sklearn: NaN
    assert np.isnan(skm.cohen_kappa_score(y, y, weights="quadratic", labels=[0, 1]))
    assert out["mcc"] == 0.0
    assert math.isnan(out["auc"]) and math.isnan(out["kendall_tau"])
    assert out["sensitivity"] != out["sensitivity"]  # class 1 absent: NaN
    assert out["specificity"] == 1.0


def test_single_example():
    out = report([1], [[0.3, 0.7]])
    assert out["num_examples"] == 1 and out["accuracy"] == 1.0
    assert math.isnan(out["kendall_tau"])


def test_from_logits_is_a_stable_softmax():
    y = np.array([0, 1, 2, 1])
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 800.0, 0.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    out = report(y, logits, from_logits=True)
    expected = report(y, scipy.special.softmax(logits, axis=1))
    assert json.dumps(out, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert not any(isinstance(v, float) and math.isnan(v) for v in out.values())


def test_result_is_json_serialisable_plain_python():
    y, _, probs = _random_case(0, 2, n=40)
    out = report(y[:, None], probs.astype(np.float32), class_names=["neg", "pos"])
    json.loads(json.dumps(out))

    def check(value):
        if isinstance(value, dict):
            assert all(isinstance(k, str) for k in value)
            list(map(check, value.values()))
        elif isinstance(value, list):
            list(map(check, value))
        else:
            assert type(value) in (int, float), (value, type(value))

    check(out)
    assert type(out["num_examples"]) is int
    assert all(type(v) is int for row in out["confusion_matrix"] for v in row)


def test_probabilities_within_tolerance_are_accepted():
    probs = np.array([[0.6, 0.4005], [0.2, 0.7995]])
    assert report([0, 1], probs)["accuracy"] == 1.0


def test_exported():
    assert PUBLIC_API["kerasimb.metrics.report"] is report


# --- errors ---------------------------------------------------------------------------------

Y = np.array([0, 1, 2, 1])
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.4, 0.3]])
NAN_P = np.where(np.eye(4, 3) > 0, np.nan, P)
INF_P = np.where(np.eye(4, 3) > 0, np.inf, P)

ERRORS = [
    # (overrides of report's arguments, error type, message pattern)
    ({"y_score": P[:, 0]}, ValueError, r"`y_score`.*Received: y_score with shape \(4,\)"),
    ({"y_score": P[:, :1]}, ValueError, r"num_classes >= 2. Received: y_score with shape \(4, 1\)"),
    ({"y_score": P.astype(str)}, TypeError, r"argument `y_score`. Expected float scores"),
    ({"y_score": NAN_P}, ValueError, r"finite scores. Received: NaN or inf in rows \[0, 1, 2\]"),
    ({"y_score": INF_P}, ValueError, r"argument `y_score`. Expected finite scores"),
    (
        {"y_score": P * 2},
        ValueError,
        r"summing to 1 within 0.001\); pass `from_logits=True`.*Received: row 0 sums to 2",
    ),
    (
        {"y_score": P - 0.2},
        ValueError,
        r"non-negative.*pass `from_logits=True`.*Received: negative scores in row 0",
    ),
    ({"y_true": [0, 1, 3, 1]}, ValueError, r"`y_true`. Expected labels in \[0, 2\].*label 3"),
    ({"y_true": [0, -1, 2, 1]}, ValueError, r"argument `y_true`. Expected labels >= 0"),
    ({"y_true": [0.0, 1.5, 2.0, 1.0]}, ValueError, r"`y_true`. Expected integer-valued"),
    ({"y_true": np.eye(4, 3)}, ValueError, r"`y_true`.*shape \(N,\) or \(N, 1\)"),
    ({"y_true": [0, 1, 2]}, ValueError, r"same number of examples. Received: 3 labels and 4 rows"),
    ({"y_true": [], "y_score": np.zeros((0, 3))}, ValueError, r"at least one example"),
    ({"class_names": ["a", "b"]}, ValueError, r"`class_names`. Expected 3 names.*: 2 names"),
    ({"class_names": ["a", "b", "a"]}, ValueError, r"`class_names`. Expected distinct"),
    ({"class_names": ["a", "b", 3]}, TypeError, r"`class_names`. Expected a list of strings"),
    ({"class_names": "abc"}, TypeError, r"argument `class_names`"),
    ({"class_counts": [10, 5]}, ValueError, r"argument `class_counts`. Expected 3 entries"),
    ({"class_counts": [10, 0, 5]}, ValueError, r"no examples for classes \[1\]"),
    ({"from_logits": "yes"}, TypeError, r"argument `from_logits`. Expected a bool"),
    ({"positive_class": 3}, ValueError, r"`positive_class`.*<= 2. Received: positive_class=3"),
    ({"positive_class": 1.0}, TypeError, r"argument `positive_class`"),
]


@pytest.mark.parametrize("kwargs, error, match", ERRORS)
def test_errors(kwargs, error, match):
    args = {"y_true": Y, "y_score": P, **kwargs}
    with pytest.raises(error, match=match):
        report(**args)
