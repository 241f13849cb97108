"""Temperature scaling (Guo et al., 2017): one scalar `T > 0` fitted on the validation split so
that `softmax(z / T)` minimises the negative log-likelihood; the arg-max is unchanged.

It acts on the log of a method's probabilities, `softmax(log p / T)`, which for a plain softmax
model is `softmax(logits / T)` (the row constant `logsumexp(z)` cancels) and for a method whose
prediction averages probabilities (flip views, the perturbation) scales what that method
predicts. `kerasimb train --calibrate` fits it after training and stores it in the saved
`InferenceModel` (its `temperature`), which applies it in `predict`.

Example:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> logits = rng.normal(size=(4000, 3)) * 4.0
>>> p_true = apply_temperature(logits, 2.0, from_logits=True)   # the real frequencies
>>> y = np.array([rng.choice(3, p=row) for row in p_true])
>>> round(fit_temperature(y, logits, from_logits=True), 1)     # logits twice too confident
2.0
"""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.calibration import PROBABILITY_FLOOR
from kerasimb.utils.validation import check_float, check_labels

__all__ = ["apply_temperature", "fit_temperature"]

# Search range of T (log-uniform bounds of the one-dimensional minimisation).
TEMPERATURE_RANGE = (1e-2, 1e2)


def _log_scores(y_score, from_logits):
    scores = np.asarray(y_score)
    if scores.ndim != 2 or scores.shape[1] < 2 or scores.dtype.kind not in "iuf":
        raise ValueError("Invalid value received for argument `y_score`. Expected a float array "
                         f"(N, num_classes) with num_classes >= 2. Received: shape {scores.shape}, "
                         f"dtype {scores.dtype}")
    scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError("Invalid value received for argument `y_score`. Expected finite values. "
                         "Received: NaN or inf")
    if from_logits:
        return scores
    if (scores < 0).any() or (np.abs(scores.sum(axis=1) - 1.0) > 1e-3).any():
        raise ValueError("Invalid value received for argument `y_score`. Expected probabilities "
                         "(non-negative rows summing to 1); pass `from_logits=True` for logits. "
                         f"Received: row sums from {scores.sum(axis=1).min():.4g} to "
                         f"{scores.sum(axis=1).max():.4g}")
    return np.log(np.maximum(scores, PROBABILITY_FLOOR))


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@kerasimb_export("kerasimb.inference.apply_temperature", serializable=False)
def apply_temperature(y_score, temperature, from_logits=False):
    """Returns `softmax(z / temperature)` as float32, `z` the logits or the log-probabilities.

    Args:
        y_score: float array `(N, C)`: probabilities, or logits with `from_logits=True`.
        temperature: float > 0 (`1`: the probabilities unchanged).
        from_logits: bool. Defaults to `False`.

    >>> apply_temperature([[0.8, 0.2]], 2.0).astype(float).round(3).tolist()   # sqrt(0.8) : sqrt(0.2)
    [[0.667, 0.333]]
    """
    temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)
    return _softmax(_log_scores(y_score, from_logits) / temperature).astype(np.float32)


def _nll(z, labels, inverse_temperature):
    scaled = z * inverse_temperature
    shift = scaled.max(axis=1)
    log_norm = shift + np.log(np.exp(scaled - shift[:, None]).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


@kerasimb_export("kerasimb.inference.fit_temperature", serializable=False)
def fit_temperature(y_true, y_score, from_logits=False):
    """The temperature `T` minimising the mean negative log-likelihood of `softmax(z / T)` on
    `(y_true, y_score)` (the validation split), `z` the logits or the log-probabilities.

    The NLL is convex in `1 / T`; it is minimised over `T` in `TEMPERATURE_RANGE` (0.01 to 100)
    by bounded scalar minimisation on `log T` (`scipy.optimize.minimize_scalar`), to a relative
    precision of about 1e-6.

    Args:
        y_true: integer labels `(N,)`.
        y_score: float array `(N, C)`: probabilities, or logits with `from_logits=True`.
        from_logits: bool. Defaults to `False`.

    Returns:
        float > 0. Above 1 softens over-confident probabilities, below 1 sharpens.

    Raises:
        ValueError: bad shapes, non-finite scores, labels out of range, fewer than 2 examples.
    """
    from scipy.optimize import minimize_scalar

    z = _log_scores(y_score, from_logits)
    labels = check_labels(y_true, z.shape[1], "y_true")
    if len(labels) != len(z):
        raise ValueError("Expected `y_true` and `y_score` to hold the same number of examples. "
                         f"Received: {len(labels)} labels and {len(z)} rows")
    if len(labels) < 2:
        raise ValueError("Invalid value received for argument `y_true`. Expected at least 2 "
                         f"examples to fit a temperature on. Received: {len(labels)}")
    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(lambda log_t: _nll(z, labels, np.exp(-log_t)), bounds=(low, high),
                            method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))
