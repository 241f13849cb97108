"""Calibration figures: how far a predicted probability is from the frequency it claims.

All four are smaller-is-better and computed on numpy probabilities:

- `expected_calibration_error`: top-label ECE with equal-mass bins (15 by default): the test
  images sorted by their top probability (the confidence) and cut into bins holding the same
  number of images (sizes differ by at most one; images with the same confidence always share
  a bin, which may then hold more), then `Σ_b (n_b / N) · |accuracy_b −
  mean confidence_b|`.
- `classwise_expected_calibration_error`: the mean over classes of the one-vs-rest ECE of each
  class's probability (bins of equal mass on `p_k`, `|fraction of class k − mean p_k|`).
- `brier_score`: the mean over images of `Σ_k (p_k − 1[y = k])²` (0 to 2).
- `negative_log_likelihood`: the mean of `−log p_y` (probabilities clipped below at
  `PROBABILITY_FLOOR` so that a hard zero costs a large finite amount).

`reliability_bins` gives the bins a reliability diagram draws. `metrics.report` returns the
four figures as `"ece"`, `"classwise_ece"`, `"brier"` and `"nll"` (`CALIBRATION_METRICS`).

Example:

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1])
>>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
>>> round(brier_score(y, p), 4)   # (0.02 + 0.32 + 0.18 + 1.28) / 4
0.45
>>> round(negative_log_likelihood(y, p), 4)
0.6456
>>> round(expected_calibration_error(y, p, bins=2), 4)   # bins {0.6, 0.7} and {0.8, 0.9}
0.35
"""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_int, check_labels

__all__ = ["CALIBRATION_METRICS", "PROBABILITY_FLOOR", "brier_score", "calibration_figures",
           "classwise_expected_calibration_error", "expected_calibration_error",
           "negative_log_likelihood", "reliability_bins"]

# The `metrics.report` keys of the calibration figures, all smaller-is-better.
CALIBRATION_METRICS = ("ece", "classwise_ece", "brier", "nll")

# The smallest probability `negative_log_likelihood` takes the log of (−log = 27.6).
PROBABILITY_FLOOR = 1e-12

_TOLERANCE = 1e-3


def _check(y_true, probabilities):
    p = np.asarray(probabilities)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError("Invalid value received for argument `probabilities`. Expected shape "
                         f"(N, num_classes) with num_classes >= 2. Received: shape {p.shape}")
    if p.dtype.kind not in "iuf":
        raise TypeError("Invalid type received for argument `probabilities`. Expected floats. "
                        f"Received: dtype {p.dtype}")
    p = p.astype(np.float64)
    if not np.isfinite(p).all() or (p < 0).any() or (
            np.abs(p.sum(axis=1) - 1.0) > _TOLERANCE).any():
        bad = np.flatnonzero(~np.isfinite(p).all(axis=1) | (p < 0).any(axis=1)
                             | (np.abs(p.sum(axis=1) - 1.0) > _TOLERANCE))
        row = int(bad[0])
        raise ValueError(
            "Invalid value received for argument `probabilities`. Expected finite non-negative "
            f"rows summing to 1 (within {_TOLERANCE}). Received: row {row} = {p[row].tolist()} "
            f"({bad.size} such rows)")
    labels = check_labels(y_true, p.shape[1], "y_true")
    if len(labels) != len(p):
        raise ValueError(
            "Expected `y_true` and `probabilities` to hold the same number of examples. "
            f"Received: {len(labels)} labels and {len(p)} rows")
    if len(labels) == 0:
        raise ValueError("Invalid value received for argument `y_true`. Expected at least one "
                         "example. Received: 0 examples")
    return labels, p


def _equal_mass_bins(score, bins):
    """Bins of `score`: the images in increasing score, cut into `min(bins, N)` runs of equal
    size (the first `N % bins` one longer); images with the same score stay in the bin of the
    first of them (a tie is never split). Returns a list of index arrays, none empty."""
    order = np.argsort(score, kind="stable")
    sizes = np.full(min(bins, len(order)), len(order) // min(bins, len(order)))
    sizes[:len(order) % len(sizes)] += 1
    position_bin = np.repeat(np.arange(len(sizes)), sizes)
    _, first, inverse = np.unique(score[order], return_index=True, return_inverse=True)
    position_bin = position_bin[first[inverse.ravel()]]
    return [order[position_bin == b] for b in np.unique(position_bin)]


def _equal_mass_ece(score, hit, bins):
    """`Σ_b (n_b / N) |mean hit_b − mean score_b|` over the equal-mass bins of `score`."""
    total = sum(len(members) * abs(hit[members].mean() - score[members].mean())
                for members in _equal_mass_bins(score, bins))
    return float(total / len(score))


@kerasimb_export("kerasimb.metrics.reliability_bins", serializable=False)
def reliability_bins(y_true, probabilities, bins=15):
    """The equal-mass bins of the top-label confidence, as a reliability diagram draws them.

    Args:
        y_true: integer labels `(N,)`.
        probabilities: float array `(N, num_classes)`, rows summing to 1.
        bins: int >= 1. Number of bins (fewer when N is smaller or ties merge bins). Defaults
            to `15`.

    Returns:
        dict of float arrays, one entry per bin in increasing confidence: `"confidence"` (mean
        top probability), `"accuracy"` (fraction correct), `"count"` (images in the bin), and
        `"lower"` / `"upper"` (the smallest and largest confidence in it).

    >>> out = reliability_bins([0, 1, 1, 0], [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]], 2)
    >>> out["confidence"].round(2).tolist(), out["accuracy"].tolist(), out["count"].tolist()
    ([0.65, 0.85], [0.5, 1.0], [2, 2])
    """
    labels, p = _check(y_true, probabilities)
    bins = check_int(bins, "bins", minimum=1)
    confidence = p.max(axis=1)
    hit = (p.argmax(axis=1) == labels).astype(np.float64)
    parts = _equal_mass_bins(confidence, bins)
    return {
        "confidence": np.array([confidence[m].mean() for m in parts]),
        "accuracy": np.array([hit[m].mean() for m in parts]),
        "count": np.array([len(m) for m in parts]),
        "lower": np.array([confidence[m].min() for m in parts]),
        "upper": np.array([confidence[m].max() for m in parts]),
    }


@kerasimb_export("kerasimb.metrics.expected_calibration_error", serializable=False)
def expected_calibration_error(y_true, probabilities, bins=15):
    """Top-label expected calibration error with `bins` equal-mass bins (see the module).

    Args:
        y_true: integer labels `(N,)` in `[0, num_classes)`.
        probabilities: float array `(N, num_classes)`, non-negative rows summing to 1.
        bins: int >= 1. Defaults to `15` (fewer when N < bins: one image per bin).

    Returns:
        float in [0, 1].

    Raises:
        ValueError: bad shapes, rows that are not probabilities, labels out of range.
    """
    labels, p = _check(y_true, probabilities)
    bins = check_int(bins, "bins", minimum=1)
    return _equal_mass_ece(p.max(axis=1), (p.argmax(axis=1) == labels).astype(np.float64), bins)


@kerasimb_export("kerasimb.metrics.classwise_expected_calibration_error", serializable=False)
def classwise_expected_calibration_error(y_true, probabilities, bins=15):
    """Mean over classes of the one-vs-rest ECE of `probabilities[:, k]` against `y == k`,
    each with `bins` equal-mass bins; arguments as `expected_calibration_error`.

    >>> classwise_expected_calibration_error([0, 1], [[1.0, 0.0], [0.0, 1.0]])
    0.0
    """
    labels, p = _check(y_true, probabilities)
    bins = check_int(bins, "bins", minimum=1)
    return float(np.mean([_equal_mass_ece(p[:, k], (labels == k).astype(np.float64), bins)
                          for k in range(p.shape[1])]))


@kerasimb_export("kerasimb.metrics.brier_score", serializable=False)
def brier_score(y_true, probabilities):
    """Mean over images of `Σ_k (p_k − 1[y = k])²` (multi-class Brier score, 0 to 2)."""
    labels, p = _check(y_true, probabilities)
    error = p.copy()
    error[np.arange(len(labels)), labels] -= 1.0
    return float((error ** 2).sum(axis=1).mean())


@kerasimb_export("kerasimb.metrics.negative_log_likelihood", serializable=False)
def negative_log_likelihood(y_true, probabilities):
    """Mean of `−log max(p_y, PROBABILITY_FLOOR)` (natural log)."""
    labels, p = _check(y_true, probabilities)
    return float(-np.log(np.maximum(p[np.arange(len(labels)), labels],
                                    PROBABILITY_FLOOR)).mean())


@kerasimb_export("kerasimb.metrics.calibration_figures", serializable=False)
def calibration_figures(y_true, probabilities, bins=15):
    """All four figures at once, the inputs checked once: `{"ece", "classwise_ece", "brier",
    "nll"}` (what `metrics.report` adds), each equal to its function above.

    >>> out = calibration_figures([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    >>> sorted(out), round(out["brier"], 3)
    (['brier', 'classwise_ece', 'ece', 'nll'], 0.05)
    """
    labels, p = _check(y_true, probabilities)
    bins = check_int(bins, "bins", minimum=1)
    rows = np.arange(len(labels))
    error = p.copy()
    error[rows, labels] -= 1.0
    return {
        "ece": _equal_mass_ece(p.max(axis=1), (p.argmax(axis=1) == labels).astype(np.float64),
                               bins),
        "classwise_ece": float(np.mean([_equal_mass_ece(p[:, k], (labels == k).astype(np.float64),
                                                        bins) for k in range(p.shape[1])])),
        "brier": float((error ** 2).sum(axis=1).mean()),
        "nll": float(-np.log(np.maximum(p[rows, labels], PROBABILITY_FLOOR)).mean()),
    }
