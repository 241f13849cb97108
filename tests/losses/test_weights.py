import numpy as np
import pytest

from kerasimb.losses import class_weights


def _normalise(raw):
    raw = np.asarray(raw, dtype=np.float64)
    return raw * len(raw) / raw.sum()


COUNTS = [500, 120, 30, 4]


def test_inverse():
    expected = _normalise([1 / 500, 1 / 120, 1 / 30, 1 / 4])
    np.testing.assert_allclose(class_weights(COUNTS, "inverse"), expected, rtol=1e-10)


def test_sqrt_inverse():
    expected = _normalise([500**-0.5, 120**-0.5, 30**-0.5, 4**-0.5])
    np.testing.assert_allclose(class_weights(COUNTS, "sqrt_inverse"), expected, rtol=1e-10)


def test_effective_number_matches_cui_formula():
    beta = 0.999
    effective = [(1 - beta**n) / (1 - beta) for n in COUNTS]
    expected = _normalise([1 / e for e in effective])
    np.testing.assert_allclose(class_weights(COUNTS, "effective", beta=beta), expected, rtol=1e-9)
    # beta = 0 gives equal weights; beta -> 1 approaches inverse frequency.
    np.testing.assert_allclose(class_weights(COUNTS, "effective", beta=0.0), np.ones(4))
    np.testing.assert_allclose(
        class_weights(COUNTS, "effective", beta=1 - 1e-9), class_weights(COUNTS), rtol=1e-4
    )


def test_weights_sum_to_num_classes_and_balanced_counts_give_ones():
    for method in ("inverse", "sqrt_inverse", "effective"):
        assert sum(class_weights(COUNTS, method)) == pytest.approx(4)
        np.testing.assert_allclose(class_weights([7, 7, 7], method), [1, 1, 1])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="Received: method='log'"):
        class_weights(COUNTS, "log")
    with pytest.raises(ValueError, match="Received: beta=1.0"):
        class_weights(COUNTS, "effective", beta=1.0)
    with pytest.raises(ValueError, match="no examples for classes"):
        class_weights([3, 0])
