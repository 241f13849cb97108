"""Temperature scaling: the fitted T minimises the validation NLL, recovers a known T, keeps the
arg-max; `apply_temperature` is the softmax of the scaled logits."""

import numpy as np
import pytest

from kerasimb.inference import apply_temperature, fit_temperature


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _nll(labels, p):
    return -np.mean(np.log(p[np.arange(len(labels)), labels]))


@pytest.fixture(scope="module")
def overconfident():
    """Logits three times too sharp: labels drawn from softmax(z / 3)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6000, 4)) * 3.0
    y = (rng.random(6000)[:, None] > np.cumsum(_softmax(z / 3.0), axis=1)).sum(axis=1)
    return z, y


def test_apply_temperature_is_the_softmax_of_scaled_logits():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 5))
    np.testing.assert_allclose(apply_temperature(z, 2.5, from_logits=True), _softmax(z / 2.5),
                               rtol=1e-6)
    # On probabilities the row constant of the log cancels: the same as on the logits.
    np.testing.assert_allclose(apply_temperature(_softmax(z), 2.5), _softmax(z / 2.5), rtol=1e-5)
    # 1 / T undoes T.
    p = apply_temperature(z, 0.7, from_logits=True)
    np.testing.assert_allclose(apply_temperature(p, 1 / 0.7), _softmax(z), rtol=1e-4)


def test_fit_recovers_a_known_temperature(overconfident):
    z, y = overconfident
    assert fit_temperature(y, z, from_logits=True) == pytest.approx(3.0, rel=0.05)
    assert fit_temperature(y, _softmax(z)) == pytest.approx(
        fit_temperature(y, z, from_logits=True), rel=1e-4)


def test_fitted_temperature_lowers_the_nll_to_its_minimum_and_keeps_the_argmax(overconfident):
    z, y = overconfident
    t = fit_temperature(y, z, from_logits=True)
    calibrated = apply_temperature(z, t, from_logits=True).astype(np.float64)
    assert _nll(y, calibrated) < _nll(y, _softmax(z)) - 0.1
    grid = np.linspace(0.5 * t, 1.5 * t, 201)  # no temperature on a fine grid does better
    best = min(_nll(y, _softmax(z / g)) for g in grid)
    assert _nll(y, calibrated) <= best + 1e-6
    np.testing.assert_array_equal(calibrated.argmax(axis=1), z.argmax(axis=1))


def test_underconfident_logits_get_a_temperature_below_one():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5000, 3)) * 2.0
    y = (rng.random(5000)[:, None] > np.cumsum(_softmax(z * 2.0), axis=1)).sum(axis=1)
    assert fit_temperature(y, z, from_logits=True) == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("kwargs,match", [
    ({"y_true": [0], "y_score": [[0.5, 0.5]]}, "at least 2"),
    ({"y_true": [0, 1], "y_score": [[0.5, 0.6], [0.5, 0.5]]}, "probabilities"),
    ({"y_true": [0, 1], "y_score": [[np.nan, 1.0], [0.5, 0.5]]}, "finite"),
    ({"y_true": [0, 2], "y_score": [[0.5, 0.5], [0.5, 0.5]]}, "y_true"),
    ({"y_true": [0, 1, 1], "y_score": [[0.5, 0.5], [0.5, 0.5]]}, "same number"),
])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_temperature(**kwargs)


def test_bad_temperature_is_named():
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature([[0.5, 0.5]], 0.0)
