"""`report()`: every figure the imbalance papers report, computed once on numpy predictions."""

import warnings

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.calibration import calibration_figures
from kerasimb.utils.validation import check_class_counts, check_distinct, check_int, check_labels

_PROBABILITY_TOLERANCE = 1e-3

# The scalar `report` keys, all larger-is-better, in the order tables show them: what model
# selection (`callbacks.BestValidationWeights`), the search objective (`tuning`) and the result
# tables (`runs.report.DEFAULT_METRICS`, the same without Kendall's τ) choose from.
SCALAR_METRICS = ("balanced_accuracy", "macro_f1", "mcc", "quadratic_kappa",
                  "smallest_class_recall", "accuracy", "auc", "kendall_tau")


def _check_scores(y_score):
    scores = np.asarray(y_score)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(
            "Invalid value received for argument `y_score`. Expected scores of shape "
            f"(N, num_classes) with num_classes >= 2. Received: y_score with shape {scores.shape}"
        )
    if scores.dtype.kind not in "iuf":
        raise TypeError(
            "Invalid type received for argument `y_score`. Expected float scores. "
            f"Received: y_score with dtype {scores.dtype}"
        )
    scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        raise ValueError(
            "Invalid value received for argument `y_score`. Expected finite scores. "
            f"Received: NaN or inf in rows {rows[:5].tolist()} of y_score"
        )
    return scores


def _probabilities(scores, from_logits):
    if from_logits:
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)
    negative = np.flatnonzero((scores < 0).any(axis=1))
    if negative.size:
        row = int(negative[0])
        raise ValueError(
            "Invalid value received for argument `y_score`. Expected probabilities (non-negative, "
            "each row summing to 1); pass `from_logits=True` if `y_score` holds logits. "
            f"Received: negative scores in row {row}: y_score[{row}]={scores[row].tolist()}"
        )
    sums = scores.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > _PROBABILITY_TOLERANCE)
    if off.size:
        row = int(off[0])
        raise ValueError(
            "Invalid value received for argument `y_score`. Expected probabilities (each row "
            f"summing to 1 within {_PROBABILITY_TOLERANCE}); pass `from_logits=True` if "
            f"`y_score` holds logits. Received: row {row} sums to {sums[row]:.6g} "
            f"({off.size} rows off in all)"
        )
    return scores


def _check_class_names(class_names, num_classes):
    if class_names is None:
        return [str(k) for k in range(num_classes)]
    if isinstance(class_names, (str, bytes)) or not hasattr(class_names, "__len__"):
        raise TypeError(
            "Invalid type received for argument `class_names`. Expected a list of strings, one "
            f"per class. Received: class_names={class_names!r}"
        )
    names = list(class_names)
    if len(names) != num_classes:
        raise ValueError(
            "Invalid value received for argument `class_names`. Expected "
            f"{num_classes} names, one per column of `y_score`. Received: {len(names)} names, "
            f"class_names={names!r}"
        )
    if not all(isinstance(n, str) for n in names):
        raise TypeError(
            "Invalid type received for argument `class_names`. Expected a list of strings. "
            f"Received: class_names={names!r}"
        )
    return check_distinct(names, "class_names")


def _group_size(num_classes):
    return 3 if num_classes >= 6 else max(num_classes // 2, 1)


def _check_group_size(group_size, num_classes):
    """`(k_most, k_least)` from `report`'s `group_size`."""
    if group_size is None:
        k = _group_size(num_classes)
        return k, k
    sizes = (group_size, group_size) if isinstance(group_size, (int, np.integer)) else group_size
    try:
        sizes = tuple(sizes)
    except TypeError:
        sizes = ()
    if len(sizes) != 2 or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                                  and 1 <= k <= num_classes for k in sizes):
        raise ValueError(
            "Invalid value received for argument `group_size`. Expected None, an int or a pair "
            f"(most, least) of ints in [1, {num_classes}]. Received: group_size={group_size!r}")
    return int(sizes[0]), int(sizes[1])


def _mean_or_nan(values):
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _matthews(matrix):
    p = matrix / matrix.sum()
    t, q = p.sum(axis=1), p.sum(axis=0)
    covariance = np.trace(p) - t @ q
    variance = (1.0 - q @ q) * (1.0 - t @ t)
    return float(np.clip(covariance / np.sqrt(variance), -1.0, 1.0)) if variance > 0 else 0.0


def _quadratic_kappa(matrix):
    observed = matrix / matrix.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    index = np.arange(len(matrix), dtype=np.float64)
    weights = (index[:, None] - index[None, :]) ** 2
    chance = float((weights * expected).sum())
    return 1.0 - float((weights * observed).sum()) / chance if chance > 0 else 0.0


def _roc_auc(is_positive, score):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_positive, score))


@kerasimb_export("kerasimb.metrics.report", serializable=False)
def report(
    y_true, y_score, class_names=None, class_counts=None, from_logits=False, positive_class=1,
    group_size=None,
):
    """Computes the classification figures of the imbalance literature for one set of predictions.

    Predictions are the argmax of `y_score` (as in the streaming metrics). Every value is a
    plain Python `float`, `int`, `list` or `dict`, so the result goes straight into
    `json.dump`. Undefined values are `float("nan")` (written as `NaN` by `json.dump`).

    Keys of the returned dict:

    - `"num_examples"`: int, N.
    - `"accuracy"`: fraction of correct predictions.
    - `"balanced_accuracy"`: mean recall over the classes present in `y_true`
      (= `sklearn.metrics.balanced_accuracy_score`, = `BalancedAccuracy`).
    - `"macro_f1"`: mean F1 over the classes present in `y_true` or in the predictions
      (= `sklearn.metrics.f1_score(average="macro")`, = `MacroF1`).
    - `"mcc"`: Matthews correlation coefficient, 0 when undefined
      (= `sklearn.metrics.matthews_corrcoef`, = `MatthewsCorrelation`).
    - `"quadratic_kappa"`: quadratic weighted Cohen's kappa with weights on the class index,
      0 when scikit-learn would give NaN (= `QuadraticKappa`; see its docstring).
    - `"kendall_tau"`: Kendall's tau-b between true and predicted labels
      (`scipy.stats.kendalltau`); NaN when undefined (labels or predictions constant, N < 2).
    - `"auc"`: ROC AUC. For 2 classes, the AUC of the score of `positive_class`; for more,
      the unweighted mean of the one-vs-rest AUCs (= `sklearn.metrics.roc_auc_score(...,
      multi_class="ovr", average="macro")`), on probabilities (softmax of the logits when
      `from_logits=True`). NaN when some class is absent from `y_true`.
    - `"per_class_recall"`: dict class name -> recall, NaN for classes absent from `y_true`.
    - `"smallest_class_recall"`: recall of the rarest class, as `SmallestClassRecall`: the
      class with the fewest `class_counts` when given, else the class with the fewest examples
      among those present in `y_true`; ties go to the lowest index. NaN when the rarest
      training class is absent from `y_true` (the streaming metric gives 0 there).
    - `"recall_most_frequent"` / `"recall_least_frequent"`: mean recall over the k most / k
      least frequent classes (the "many-shot" / "few-shot" groups), k = 3 for 6 or more
      classes, else `max(num_classes // 2, 1)` (or as `group_size` says). Frequency is `class_counts` when given (all
      classes ranked; classes absent from `y_true` are skipped in the mean, NaN if all are),
      else the support in `y_true` (only the classes present are ranked, k capped at their
      number). Ties go to the lowest class index.
    - `"confusion_matrix"`: list of lists of int, rows = true class, columns = predicted.
    - `"ece"`, `"classwise_ece"`, `"brier"`, `"nll"`: calibration of the probabilities (smaller
      is better; `metrics.CALIBRATION_METRICS`): top-label expected calibration error with 15
      equal-mass bins, the mean one-vs-rest ECE over classes, the multi-class Brier score (mean
      over examples of the sum over classes of the squared error) and the mean negative
      log-likelihood (see `kerasimb.metrics.calibration`).
    - `"sensitivity"` / `"specificity"` (2 classes only): recall of `positive_class` and of the
      other class (TP / (TP + FN), TN / (TN + FP)); NaN when that class is absent from `y_true`.

    Args:
        y_true: integer labels, shape `(N,)` or `(N, 1)`, in `[0, num_classes)`.
        y_score: float array `(N, num_classes)`: probabilities (each row non-negative, summing
            to 1 within 1e-3), or logits with `from_logits=True`.
        class_names: list of str or `None`. One distinct name per class, used as the keys of
            `"per_class_recall"`. Defaults to `None` (`"0"`, `"1"`, ...).
        class_counts: list of int or `None`. Training examples per class; decides the rarest
            class and the frequency groups. Defaults to `None` (use the support in `y_true`).
        from_logits: bool. Whether `y_score` holds logits (a stable softmax is applied).
            Defaults to `False`.
        positive_class: int. The positive class for `"auc"`, `"sensitivity"` and
            `"specificity"` of a binary task. Defaults to `1`.
        group_size: `None` (the rule above), an int k (both groups) or a pair `(k_most,
            k_least)`: how many classes the most / least frequent groups hold, as a paper
            defines them (Zeng et al.: the 3 most frequent, and the 3 least frequent but 2 for
            Skin7). Each in `[1, num_classes]`. Defaults to `None`.

    Returns:
        dict, described above.

    Raises:
        ValueError: a bad shape, NaN or inf scores, rows that are not probabilities while
            `from_logits=False`, labels out of range, different numbers of labels and scores,
            no examples, or a bad `class_names`, `class_counts` or `positive_class`.
        TypeError: non-numeric inputs, non-str class names or a non-bool `from_logits`.

    Example:

    >>> import kerasimb
    >>> out = kerasimb.metrics.report(
    ...     [0, 0, 0, 1, 1, 2],
    ...     [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1],
    ...      [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.2, 0.7]],
    ...     class_names=["normal", "benign", "malignant"],
    ... )
    >>> round(out["balanced_accuracy"], 4), out["per_class_recall"]["benign"]
    (0.7222, 0.5)
    >>> out["confusion_matrix"]
    [[2, 1, 0], [1, 1, 0], [0, 0, 1]]
    """
    from scipy.stats import kendalltau

    scores = _check_scores(y_score)
    num_classes = scores.shape[1]
    labels = check_labels(y_true, num_classes, "y_true")
    if len(labels) != len(scores):
        raise ValueError(
            "Expected `y_true` and `y_score` to hold the same number of examples. "
            f"Received: {len(labels)} labels and {len(scores)} rows of scores"
        )
    if len(labels) == 0:
        raise ValueError(
            "Invalid value received for argument `y_true`. Expected at least one example. "
            "Received: 0 examples"
        )
    if not isinstance(from_logits, (bool, np.bool_)):
        raise TypeError(
            "Invalid type received for argument `from_logits`. Expected a bool. "
            f"Received: from_logits={from_logits!r}"
        )
    names = _check_class_names(class_names, num_classes)
    if class_counts is not None:
        class_counts = check_class_counts(class_counts, num_classes)
    positive_class = check_int(positive_class, "positive_class", 0, num_classes - 1)
    probabilities = _probabilities(scores, from_logits)
    predictions = scores.argmax(axis=1)

    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    present = support > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(present, hits / support, np.nan)
    either = present | (predicted > 0)
    f1 = 2.0 * hits[either] / (support[either] + predicted[either])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tau = float(kendalltau(labels, predictions).statistic) if len(labels) > 1 else np.nan
    if not present.all():
        auc = float("nan")
    elif num_classes == 2:
        auc = _roc_auc(labels == positive_class, probabilities[:, positive_class])
    else:
        per_class_auc = [_roc_auc(labels == k, probabilities[:, k]) for k in range(num_classes)]
        auc = float(np.mean(per_class_auc))

    k_most, k_least = _check_group_size(group_size, num_classes)
    if class_counts is not None:
        order_most = sorted(range(num_classes), key=lambda c: (-class_counts[c], c))
        order_least = sorted(range(num_classes), key=lambda c: (class_counts[c], c))
        smallest = order_least[0]
    else:
        seen = [c for c in range(num_classes) if present[c]]
        order_most = sorted(seen, key=lambda c: (-support[c], c))
        order_least = sorted(seen, key=lambda c: (support[c], c))
        smallest = order_least[0]

    result = {
        "num_examples": int(len(labels)),
        "accuracy": float(np.mean(labels == predictions)),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1.mean()),
        "mcc": _matthews(matrix.astype(np.float64)),
        "quadratic_kappa": _quadratic_kappa(matrix.astype(np.float64)),
        "kendall_tau": tau,
        "auc": auc,
        "per_class_recall": {name: float(r) for name, r in zip(names, recall)},
        "smallest_class_recall": float(recall[smallest]),
        "recall_most_frequent": _mean_or_nan(recall[order_most[:k_most]]),
        "recall_least_frequent": _mean_or_nan(recall[order_least[:k_least]]),
        "confusion_matrix": matrix.tolist(),
        **calibration_figures(labels, probabilities),
    }
    if num_classes == 2:
        result["sensitivity"] = float(recall[positive_class])
        result["specificity"] = float(recall[1 - positive_class])
    return result
