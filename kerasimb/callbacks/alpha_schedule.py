"""`AlphaSchedule`: AdUni's move from feature learning (α_max) to classifier learning (α_min)."""

import math

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_float, check_int

MODES = ("stretched", "cosine", "compounding", "linear", "step")
_ALIASES = {"cosine_compounding": "compounding"}

# The authors' runs (run.sh of github.com/thomascong121/AdUni): 400 epochs, `--alpha_decay 1000`.
# `"stretched"` is their compounding schedule at these settings, resampled to the run's length.
REFERENCE_EPOCHS = 400
REFERENCE_DECAY = 1000


def _reference_log_products():
    """log Π_{k=1..e} (1 + cos(π k / 1000)) / 2 for e = 0..400 (the authors' factors)."""
    logs = [0.0]
    for k in range(1, REFERENCE_EPOCHS + 1):
        logs.append(logs[-1] + math.log((1.0 + math.cos(math.pi * k / REFERENCE_DECAY)) / 2.0))
    return logs


_REFERENCE_LOGS = _reference_log_products()


def stretched_factor(position):
    """The authors' compounded factor Π_{k=1..t} (1 + cos(π k / 1000)) / 2 at (real) epoch
    `position` of their 400, its log linearly interpolated between whole epochs."""
    position = min(max(position, 0.0), float(REFERENCE_EPOCHS))
    low = int(math.floor(position))
    high = min(low + 1, REFERENCE_EPOCHS)
    fraction = position - low
    return math.exp((1.0 - fraction) * _REFERENCE_LOGS[low] + fraction * _REFERENCE_LOGS[high])


def default_decay_epochs(total_epochs, mode):
    """D when `decay_epochs` is `None`: 2.5·E for `"compounding"` (the authors' run.sh uses
    `--alpha_decay 1000` for 400 epochs), E // 2 for `"step"` (at least 1)."""
    if mode == "compounding":
        return max(int(round(2.5 * total_epochs)), 1)
    return max(total_epochs // 2, 1)


def alpha_at(epoch, alpha_max=1.0, alpha_min=0.01, total_epochs=100, mode="stretched",
             decay_epochs=None):
    """α of (0-indexed) `epoch` under `AlphaSchedule`'s closed forms; see its docstring."""
    mode = _ALIASES.get(mode, mode)
    span = alpha_max - alpha_min
    if mode == "stretched":
        return alpha_min + span * stretched_factor(epoch * REFERENCE_EPOCHS / total_epochs)
    if mode == "cosine":
        progress = 1.0 if total_epochs == 1 else min(epoch / (total_epochs - 1), 1.0)
        return alpha_min + span * (1.0 + math.cos(math.pi * progress)) / 2.0
    if mode == "linear":
        progress = 1.0 if total_epochs == 1 else min(epoch / (total_epochs - 1), 1.0)
        return alpha_max - span * progress
    decay = default_decay_epochs(total_epochs, mode) if decay_epochs is None else decay_epochs
    if mode == "step":
        return alpha_max if epoch < decay else alpha_min
    product = 1.0  # compounding: alpha_e = a_min + (alpha_{e-1} - a_min) (1 + cos(pi e / D)) / 2
    for k in range(1, epoch + 1):
        product *= (1.0 + math.cos(math.pi * k / decay)) / 2.0
    return alpha_min + span * product


@kerasimb_export("kerasimb.callbacks.AlphaSchedule", serializable=False)
class AlphaSchedule(keras.callbacks.Callback):
    """Moves α of AdUni's unified loss from α_max (feature learning) to α_min (classifier learning).

    At the start of every epoch e (0-indexed, of E = `total_epochs`) α is set to:

    - `"stretched"` (default): the schedule that produced the paper's published numbers, the
      authors' compounding schedule (below) at their settings (E = 400, D = 1000), resampled to
      the run's length: α_e = α_min + (α_max − α_min) · P(400 · e / E), P(t) = Π_{k=1..t} (1 +
      cos(π k / 1000)) / 2 with log P linear between whole epochs. At E = 400 it equals the
      authors' code epoch by epoch; a shorter run passes the same values at the same fraction
      of training (α within 0.002 of α_min from half-way, as in their runs).
    - `"cosine"`: a re-derivation of the paper's Eq. 3 as a smooth decrease, α_e = α_min +
      (α_max − α_min) · (1 + cos(π · e / (E − 1))) / 2, so the first epoch uses α_max and the
      last α_min. The paper prints ω(t) = 1 + cos(π t / t_decay) with t_decay = 1000, which is
      2 at t = 0 and still above 1 at t = 400: taken literally α = ω α_max + (1 − ω) α_min
      would start at 2 α_max − α_min and never decay below α_max in a 400-epoch run, so the
      printed ω cannot be what was run; the halved cosine here is one reading, `"stretched"`
      is what the authors' code ran.
    - `"compounding"` (alias `"cosine_compounding"`; the authors' public code): a cosine step
      applied to the previous epoch's α, α_e = α_min + (α_{e−1} − α_min) · (1 + cos(π e / D)) / 2
      with α_0 = α_max; in closed form α_e = α_min + (α_max − α_min) · Π_{k=1..e} (1 + cos(π k /
      D)) / 2. D = `decay_epochs`, by default 2.5·E (their run.sh: D = 1000 for E = 400). The
      factors compound: in their 400-epoch runs α is within 0.002 of α_min by epoch 200, and
      the second half of training is classifier learning. The product is not scale-free
      (log of it grows like E at fixed D / E), so a short run with D = 2.5·E decays less
      (30 epochs end near α_min + 0.02); pass a smaller `decay_epochs` to decay faster.
    - `"linear"` (the code's option): α_e = α_max − (α_max − α_min) · e / (E − 1), and β is set to
      1 − α_e as in the code (`set_beta=False` keeps β).
    - `"step"` (the code's option): α_max before epoch D (default E // 2), α_min from it on.

    The callback writes into the loss's α variable (`UnifiedContrastiveLoss.set_alpha`), so the
    compiled train step sees the new value without recompiling; the loss is `loss` or, if
    `None`, the model's `unified_loss` attribute (`models.AdUni`). The α of every epoch is
    appended to `alphas` and logged as `alpha` in the epoch logs (the `History`).

    Args:
        alpha_max: float >= 0. Defaults to `1.0`.
        alpha_min: float in [0, alpha_max]. Defaults to `0.01`.
        total_epochs: int >= 1. The number of epochs of the run. Defaults to `100`.
        mode: `"stretched"`, `"cosine"`, `"compounding"` (`"cosine_compounding"`), `"linear"`
            or `"step"`. Defaults to `"stretched"`.
        decay_epochs: int >= 1 or `None` (2.5·E for `"compounding"`, E // 2 for `"step"`).
            D of `"compounding"` and `"step"`. Defaults to `None`.
        set_beta: bool or `None` (= `mode == "linear"`). Also set β = 1 − α. Defaults to `None`.
        loss: a `losses.UnifiedContrastiveLoss` or `None` (the model's `unified_loss`).

    Raises:
        ValueError: out-of-range values or an unknown `mode`.

    Example:

    >>> schedule = AlphaSchedule(1.0, 0.0, total_epochs=3, mode="cosine")
    >>> [round(schedule.alpha_at(e), 3) for e in range(3)]
    [1.0, 0.5, 0.0]
    >>> schedule = AlphaSchedule(1.0, 0.01, total_epochs=40)  # "stretched": epoch 20 = their 200
    >>> round(schedule.alpha_at(20), 4)
    0.0112
    >>> schedule = AlphaSchedule(1.0, 0.0, total_epochs=4, mode="compounding", decay_epochs=4)
    >>> [round(schedule.alpha_at(e), 4) for e in range(3)]
    [1.0, 0.8536, 0.4268]
    """

    def __init__(self, alpha_max=1.0, alpha_min=0.01, total_epochs=100, mode="stretched",
                 decay_epochs=None, set_beta=None, loss=None):
        super().__init__()
        self.alpha_max = check_float(alpha_max, "alpha_max", minimum=0.0)
        self.alpha_min = check_float(alpha_min, "alpha_min", minimum=0.0, maximum=self.alpha_max)
        self.total_epochs = check_int(total_epochs, "total_epochs", minimum=1)
        check_choice(mode, "mode", (*MODES, *_ALIASES))
        self.mode = _ALIASES.get(mode, mode)
        self.decay_epochs = None if decay_epochs is None else check_int(
            decay_epochs, "decay_epochs", minimum=1)
        self.set_beta = self.mode == "linear" if set_beta is None else bool(set_beta)
        self.loss = loss
        self.alphas = []

    def alpha_at(self, epoch):
        """α of (0-indexed) `epoch`, a float."""
        epoch = check_int(epoch, "epoch", minimum=0)
        return alpha_at(epoch, self.alpha_max, self.alpha_min, self.total_epochs, self.mode,
                        self.decay_epochs)

    def _target(self):
        target = self.loss if self.loss is not None else getattr(self.model, "unified_loss", None)
        if target is None or not hasattr(target, "set_alpha"):
            raise ValueError(
                "Invalid value received for argument `loss`. Expected a UnifiedContrastiveLoss, "
                "or a model with a `unified_loss` attribute (models.AdUni). Received: "
                f"loss={self.loss!r}, model={type(self.model).__name__}"
            )
        return target

    def on_epoch_begin(self, epoch, logs=None):
        target = self._target()
        alpha = self.alpha_at(epoch)
        target.set_alpha(alpha)
        if self.set_beta:
            target.set_beta(max(1.0 - alpha, 0.0))
        self.alphas.append(alpha)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.alphas:
            logs["alpha"] = self.alphas[-1]
