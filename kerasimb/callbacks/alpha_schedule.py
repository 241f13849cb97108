"""`AlphaSchedule`: AdUni's move from feature learning (α_max) to classifier learning (α_min)."""

import math

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_float, check_int

MODES = ("cosine", "compounding", "linear", "step")
_ALIASES = {"cosine_compounding": "compounding"}


def default_decay_epochs(total_epochs, mode):
    """D when `decay_epochs` is `None`: 2.5·E for `"compounding"` (the authors' run.sh uses
    `--alpha_decay 1000` for 400 epochs), E // 2 for `"step"` (at least 1)."""
    if mode == "compounding":
        return max(int(round(2.5 * total_epochs)), 1)
    return max(total_epochs // 2, 1)


def alpha_at(epoch, alpha_max=1.0, alpha_min=0.01, total_epochs=100, mode="cosine",
             decay_epochs=None):
    """α of (0-indexed) `epoch` under `AlphaSchedule`'s closed forms; see its docstring."""
    mode = _ALIASES.get(mode, mode)
    span = alpha_max - alpha_min
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

    - `"cosine"` (default; the paper's smooth cosine decrease):
      α_e = α_min + (α_max − α_min) · (1 + cos(π · e / (E − 1))) / 2, so the first epoch uses
      α_max and the last α_min.
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
        mode: `"cosine"`, `"compounding"` (`"cosine_compounding"`), `"linear"` or `"step"`.
            Defaults to `"cosine"`.
        decay_epochs: int >= 1 or `None` (2.5·E for `"compounding"`, E // 2 for `"step"`).
            D of `"compounding"` and `"step"`. Defaults to `None`.
        set_beta: bool or `None` (= `mode == "linear"`). Also set β = 1 − α. Defaults to `None`.
        loss: a `losses.UnifiedContrastiveLoss` or `None` (the model's `unified_loss`).

    Raises:
        ValueError: out-of-range values or an unknown `mode`.

    Example:

    >>> schedule = AlphaSchedule(1.0, 0.0, total_epochs=3)
    >>> [round(schedule.alpha_at(e), 3) for e in range(3)]
    [1.0, 0.5, 0.0]
    >>> schedule = AlphaSchedule(1.0, 0.0, total_epochs=4, mode="compounding", decay_epochs=4)
    >>> [round(schedule.alpha_at(e), 4) for e in range(3)]
    [1.0, 0.8536, 0.4268]
    """

    def __init__(self, alpha_max=1.0, alpha_min=0.01, total_epochs=100, mode="cosine",
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
