"""Shared helpers and reference implementations for the metric tests.

Every expected value comes from scikit-learn or from numpy written out by hand, never from
kerasimb itself.
"""

import numpy as np
from sklearn.metrics import (
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    matthews_corrcoef,
    recall_score,
)

from kerasimb.metrics import (
    BalancedAccuracy,
    MacroF1,
    MatthewsCorrelation,
    QuadraticKappa,
    SmallestClassRecall,
)


def logits_for(predicted, num_classes, rng, margin=4.0):
    """Random logits whose argmax is `predicted` (by a clear margin, so float16 keeps it)."""
    logits = rng.normal(size=(len(predicted), num_classes))
    rows = np.arange(len(predicted))
    logits[rows, predicted] = logits.max(axis=1) + margin * rng.uniform(0.5, 1.0, len(predicted))
    return logits.astype(np.float32)


def _kappa(y_true, y_pred, w, num_classes):
    value = cohen_kappa_score(
        y_true, y_pred, weights="quadratic", labels=np.arange(num_classes), sample_weight=w
    )
    return 0.0 if np.isnan(value) else value  # the documented replacement of sklearn's NaN


def _smallest_class_recall(y_true, y_pred, w, num_classes, class_counts=None):
    if class_counts is not None:
        target = int(np.argmin(class_counts))
    else:
        support = np.bincount(y_true, weights=w, minlength=num_classes)
        support = np.where(support > 0, support, np.inf)
        if np.isinf(support).all():
            return 0.0
        target = int(np.flatnonzero(support == support.min())[0])
    if not np.any(y_true == target):
        return 0.0
    return recall_score(
        y_true, y_pred, labels=[target], average=None, sample_weight=w, zero_division=0
    )[0]


# metric class -> reference(y_true, y_pred, sample_weight, num_classes)
REFERENCES = {
    BalancedAccuracy: lambda t, p, w, c: balanced_accuracy_score(t, p, sample_weight=w),
    MacroF1: lambda t, p, w, c: f1_score(t, p, average="macro", sample_weight=w, zero_division=0),
    MatthewsCorrelation: lambda t, p, w, c: matthews_corrcoef(t, p, sample_weight=w),
    QuadraticKappa: _kappa,
    SmallestClassRecall: _smallest_class_recall,
}
METRICS = list(REFERENCES)

METRIC_IDS = [cls.__name__ for cls in METRICS]
