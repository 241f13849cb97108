import math

import keras
import numpy as np
import pytest

from kerasimb.callbacks import AlphaSchedule
from kerasimb.losses import UnifiedContrastiveLoss


def test_cosine_closed_form():
    schedule = AlphaSchedule(1.0, 0.01, total_epochs=11, mode="cosine")
    for e in range(11):
        expected = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * e / 10))
        assert schedule.alpha_at(e) == pytest.approx(expected, abs=1e-12)
    assert schedule.alpha_at(0) == 1.0 and schedule.alpha_at(10) == pytest.approx(0.01)
    values = [schedule.alpha_at(e) for e in range(11)]
    assert all(a > b for a, b in zip(values, values[1:]))  # strictly decreasing
    assert AlphaSchedule(1.0, 0.2, total_epochs=1, mode="cosine").alpha_at(0) == 0.2


def test_compounding_matches_the_recursion_and_closed_form():
    # The authors' code: alpha <- a_min + (alpha - a_min) * (1 + cos(pi * epoch / D)) / 2,
    # applied to the previous epoch's alpha, epochs 1, 2, ...
    # The authors' run.sh: 400 epochs, --alpha_decay 1000 (our default D = 2.5 E).
    a_max, a_min, total, decay = 1.0, 0.01, 400, 1000
    schedule = AlphaSchedule(a_max, a_min, total_epochs=total, mode="compounding")
    alpha = a_max
    for e in range(0, 250):
        if e > 0:
            alpha = a_min + (alpha - a_min) * (1 + math.cos(math.pi * e / decay)) / 2
        assert schedule.alpha_at(e) == pytest.approx(alpha, rel=1e-10, abs=1e-15)
    product = np.prod([(1 + math.cos(math.pi * k / decay)) / 2 for k in range(1, 101)])
    assert schedule.alpha_at(100) == pytest.approx(a_min + (a_max - a_min) * product)
    # It compounds: within 0.002 of alpha_min at epoch 200 of 400, where the paper's smooth
    # cosine is still half-way.
    assert schedule.alpha_at(200) - a_min < 2e-3
    assert AlphaSchedule(a_max, a_min, total_epochs=total, mode="cosine").alpha_at(200) > 0.5
    short = AlphaSchedule(1.0, 0.0, total_epochs=4, mode="compounding", decay_epochs=4)
    assert [short.alpha_at(e) for e in range(5)] == pytest.approx(
        [1.0, (1 + 2 ** -0.5) / 2, (1 + 2 ** -0.5) / 4, (1 + 2 ** -0.5) / 4 * (1 - 2 ** -0.5) / 2,
         0.0])
    assert AlphaSchedule(1.0, 0.0, 4, mode="cosine_compounding").mode == "compounding"


def test_linear_and_step():
    linear = AlphaSchedule(1.0, 0.0, total_epochs=5, mode="linear")
    assert [linear.alpha_at(e) for e in range(5)] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    step = AlphaSchedule(1.0, 0.1, total_epochs=10, mode="step", decay_epochs=3)
    assert [step.alpha_at(e) for e in range(5)] == [1.0, 1.0, 1.0, 0.1, 0.1]
    step = AlphaSchedule(1.0, 0.1, total_epochs=10, mode="step")
    assert [step.alpha_at(e) for e in (4, 5)] == [1.0, 0.1]


def test_callback_moves_the_loss_variables_and_logs():
    loss = UnifiedContrastiveLoss(alpha=1.0)
    schedule = AlphaSchedule(1.0, 0.2, total_epochs=3, mode="linear", loss=loss)
    schedule.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    logs = {}
    schedule.on_epoch_begin(1)
    schedule.on_epoch_end(1, logs)
    assert loss.alpha == pytest.approx(0.6) and loss.beta == pytest.approx(0.4)  # beta = 1 - alpha
    assert logs["alpha"] == pytest.approx(0.6) and schedule.alphas == [pytest.approx(0.6)]
    cosine = AlphaSchedule(1.0, 0.2, total_epochs=3, loss=loss)
    cosine.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    cosine.on_epoch_begin(2)
    assert loss.alpha == pytest.approx(0.2) and loss.beta == pytest.approx(0.4)  # beta kept


def test_errors():
    with pytest.raises(ValueError, match="argument `mode`"):
        AlphaSchedule(mode="exp")
    with pytest.raises(ValueError, match="argument `alpha_min`"):
        AlphaSchedule(0.5, 0.9)
    with pytest.raises(ValueError, match="argument `total_epochs`"):
        AlphaSchedule(total_epochs=0)
    schedule = AlphaSchedule()
    schedule.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="argument `loss`"):
        schedule.on_epoch_begin(0)


def test_stretched_is_the_authors_schedule_at_400_epochs_and_scales_with_the_run():
    """`"stretched"` (the default) equals the authors' compounding schedule (D = 1000) at every
    one of their 400 epochs, and a shorter run passes their values at the same fraction of
    training (exactly where the fraction lands on one of their whole epochs)."""
    import math

    def authors(e, decay=1000):  # α_e = α_min + (α_{e-1} - α_min) (1 + cos(π e / D)) / 2
        alpha = 1.0
        for k in range(1, e + 1):
            alpha = 0.01 + (alpha - 0.01) * (1 + math.cos(math.pi * k / decay)) / 2
        return alpha

    full = AlphaSchedule(1.0, 0.01, total_epochs=400)
    assert full.mode == "stretched"
    theirs, alpha = [], 1.0  # their loop run once over all 400 epochs
    for k in range(400):
        if k:
            alpha = 0.01 + (alpha - 0.01) * (1 + math.cos(math.pi * k / 1000)) / 2
        theirs.append(alpha)
    assert theirs[123] == pytest.approx(authors(123), abs=1e-15)
    np.testing.assert_allclose([full.alpha_at(e) for e in range(400)], theirs, rtol=0, atol=1e-12)
    for epochs in (15, 30, 100):  # a shorter run is within 0.001 of α_min from 70 % of it on
        run = AlphaSchedule(1.0, 0.01, total_epochs=epochs)
        assert all(run.alpha_at(e) - 0.01 <= 1e-3 for e in range(math.ceil(0.7 * epochs), epochs))
    short = AlphaSchedule(1.0, 0.01, total_epochs=40)
    for e in range(40):
        assert short.alpha_at(e) == pytest.approx(authors(10 * e), abs=1e-12)
    odd = [AlphaSchedule(1.0, 0.01, total_epochs=30).alpha_at(e) for e in range(30)]
    assert all(a >= b for a, b in zip(odd, odd[1:]))  # between whole epochs: still decreasing
    assert authors(int(400 * 17 / 30) + 1) <= odd[17] <= authors(int(400 * 17 / 30))
    # the fixed-D compounding schedule does not scale: a 30-epoch run ends far from α_min
    assert AlphaSchedule(1.0, 0.01, 30, mode="compounding").alpha_at(29) > 0.02 > odd[-1]
