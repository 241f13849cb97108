"""AdUni (Cong et al., MLMI 2022) and a PaCo-style baseline as named methods.

| name (aliases) | model | loss | α |
|---|---|---|---|
| `aduni` (`aduc`) | `models.AdUni` on two views | unified contrastive loss (τ = 0.1, log-prior adjusted) | α_max = 1 → α_min = 0.01 (`callbacks.AlphaSchedule`, the authors' compounding schedule stretched to the run) |
| `aduni-fixed-alpha` | the same | the same | constant 1.0 ("AdUni without AduC", the ablation) |
| `paco` | the same, with a queue of the last 1024 examples' features as extra keys | the same | constant 0.02 (PaCo's CIFAR-LT value), no schedule |
| `paco-batch` | the same, without the queue | the same | constant 0.02 |
| `paco-aduni` (`paco-aduc`) | the same, with the 1024 queue | the same | AduC's schedule, 1 → 0.01 (PaCo + AduC) |

An alias is another name for the same method: `methods.get("aduc")` is an `aduni` method
(`.name == "aduni"`), and `methods.names()` lists each method once.

All of them train `models.AdUni` on the pooled features of the model `model_fn` builds (its own
head is replaced by AdUni's classifier; a 2-layer projection is added), with batches of two
views from `data.two_view_dataset` (flips, rotation, crop, colour jitter), and predict with the
plain logits; the classifier sees the pooled features through Dropout(0.5), as the authors'
model (`classifier_dropout`). Ablations are parameter changes: `methods.get("aduni",
schedule=None, alpha=1.0)` is "AdUni without AduC" (fixed α), `schedule="cosine"` a smooth
re-derivation of the paper's Eq. 3 (see `callbacks.AlphaSchedule` for why the printed ω cannot be
used as it stands).

The paper's Table 2 combines AdUni with image samplers; `sampling=` picks one (p_j ∝ n_j^q,
`data.two_view_dataset(q=...)`):

| `sampling` | sampler (Table 2) | authors' code (`--adavancebalance_type`) |
|---|---|---|
| `None` | none: shuffled epochs | no sampler |
| `0.0` | up-sampling / class-balanced | `classbalance` |
| `0.5` | square-root | `squarerootbalance` |
| `"progressive"` | progressive-balanced, instance → class over the epochs | `progressbalance` |

`"progressive"` draws through a `data.SamplingWeights` that `callbacks.ProgressiveSampling`
moves from p = n_j/N (first epoch) to p = 1/K (Kang et al., 2020) at the start of every epoch.

Example:

>>> from kerasimb import methods
>>> methods.get("aduni").params["schedule"]
'stretched'
>>> methods.get("paco").params["queue_size"], methods.get("paco-batch").params["queue_size"]
(1024, 0)
>>> methods.get("paco-aduc").name, methods.get("paco-aduc").params["schedule"]
('paco-aduni', 'stretched')
>>> methods.get("aduni-fixed-alpha").params["schedule"] is None
True
>>> methods.get("aduni", sampling="progressive").params["sampling"]
'progressive'
"""

import keras

from kerasimb.callbacks.alpha_schedule import MODES, AlphaSchedule
from kerasimb.callbacks.sampling import ProgressiveSampling
from kerasimb.data.pipeline import steps_per_epoch
from kerasimb.data.sampling import SamplingWeights
from kerasimb.data.views import two_view_dataset
from kerasimb.methods.registry import Method, register
from kerasimb.methods.two_stage import penultimate_features
from kerasimb.models.aduni import AdUni
from kerasimb.utils.validation import check_choice, check_float, check_int


class UnifiedContrastiveMethod(Method):
    """Base of `aduni`, `aduni-fixed-alpha` and `paco`: `models.AdUni` trained on two views.

    Params:
        alpha: float >= 0. α when `schedule` is `None` (constant); ignored otherwise.
        alpha_max, alpha_min: floats, the ends of the schedule. Defaults `1.0`, `0.01`.
        schedule: `"stretched"` (default: the authors' compounding schedule, which produced
            the published numbers, resampled to the run's length; equal to their code at 400
            epochs), `"cosine"` (a smooth re-derivation of the paper's Eq. 3), `"compounding"`
            (the authors' formula with D = 2.5·E), `"linear"`, `"step"` (the code's options) or
            `None` (constant α); see `callbacks.AlphaSchedule`.
        classifier_dropout: float in [0, 1). Dropout before the classifier, as the authors'
            model. Defaults to `0.5`.
        beta: float >= 0. Weight of the class positive. Defaults to `1.0`.
        temperature: float > 0. Defaults to `0.1`.
        base_temperature: float > 0. Defaults to `0.07`.
        projection_dim: int >= 1. Defaults to `128`.
        logit_adjust: bool. Log-prior adjustment of the class logits inside the loss.
            Defaults to `True`.
        augment: `True`, `False` or a dict of `data.view_augment` arguments. Defaults to `True`.
        queue_size: int >= 0. PaCo-style memory of the last Q examples' projected features as
            extra keys (`models.AdUni(queue_size=...)`); `0` (default): the batch alone, as
            AdUni. 1024 for `paco` and `paco-aduni`, as the paper's PaCo.
        sampling: `None` (shuffled epochs), a float q (p_j ∝ n_j^q: `0.0` up-sampling /
            class-balanced, `0.5` square-root, `1.0` instance sampling with replacement) or
            `"progressive"` (instance → class over the epochs, `callbacks.ProgressiveSampling`).
            Defaults to `None`.
    """

    reference = "Cong et al., MLMI 2022; Cui et al., ICCV 2021 (PaCo)"
    own_views = True  # two views augmented by its `augment` parameter
    defaults = {
        "alpha": 1.0,
        "alpha_max": 1.0,
        "alpha_min": 0.01,
        "schedule": "stretched",
        "classifier_dropout": 0.5,
        "beta": 1.0,
        "temperature": 0.1,
        "base_temperature": 0.07,
        "projection_dim": 128,
        "logit_adjust": True,
        "augment": True,
        "sampling": None,
        "queue_size": 0,
    }

    def validate_params(self, params):
        for key in ("alpha", "alpha_max", "alpha_min", "beta"):
            params[key] = check_float(params[key], key, minimum=0.0)
        if params["alpha_min"] > params["alpha_max"]:
            raise ValueError(
                "Invalid value received for argument `alpha_min`. Expected a value <= "
                f"alpha_max={params['alpha_max']}. Received: alpha_min={params['alpha_min']}"
            )
        check_choice(params["schedule"], "schedule", (*MODES, "cosine_compounding", None))
        for key in ("temperature", "base_temperature"):
            params[key] = check_float(params[key], key, minimum=0.0, min_inclusive=False)
        params["projection_dim"] = check_int(params["projection_dim"], "projection_dim",
                                             minimum=1)
        params["logit_adjust"] = bool(params["logit_adjust"])
        params["classifier_dropout"] = check_float(
            params["classifier_dropout"], "classifier_dropout", minimum=0.0, maximum=1.0,
            max_inclusive=False)
        params["queue_size"] = check_int(params["queue_size"], "queue_size", minimum=0)
        sampling = params["sampling"]
        if isinstance(sampling, str) and sampling != "progressive":
            raise ValueError(
                "Invalid value received for argument `sampling`. Expected `None`, a float q or "
                f"'progressive'. Received: sampling={sampling!r}")
        if sampling is not None and sampling != "progressive":
            params["sampling"] = check_float(sampling, "sampling")
        return params

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        if augment is not None:
            raise ValueError(
                f"Invalid value received for argument `augment`. Expected None for `{self.name}`, "
                "which trains on two augmented views of each image (its own `augment` "
                f"parameter sets them). Received: augment={augment!r}")
        x, y = dataset.train
        q = self.params["sampling"]
        if q == "progressive":
            # Kept for `callbacks`, which `Method.train` calls after this hook.
            self.weights = SamplingWeights(dataset.class_counts, q=1.0)
            q = self.weights
        ds = two_view_dataset(x, y, batch_size, augment=self.params["augment"], seed=seed,
                              num_classes=dataset.num_classes, q=q)
        return ds, steps_per_epoch(len(y), batch_size)

    def build_model(self, model_fn, dataset):
        p = self.params
        encoder = penultimate_features(model_fn(dataset.image_shape, dataset.num_classes))
        initial = p["alpha_max"] if p["schedule"] is not None else p["alpha"]
        return AdUni(
            encoder, dataset.num_classes,
            class_counts=dataset.class_counts if p["logit_adjust"] else None,
            projection_dim=p["projection_dim"], alpha=initial, beta=p["beta"],
            temperature=p["temperature"], base_temperature=p["base_temperature"],
            queue_size=p["queue_size"], classifier_dropout=p["classifier_dropout"],
        )

    def compile(self, model, dataset, learning_rate, jit_compile="auto"):
        """The training configuration's optimizer (Adam at `learning_rate` by default) and
        accuracy; the loss is the model's own (`AdUni.unified_loss`)."""
        optimizer = (learning_rate if isinstance(learning_rate, keras.optimizers.Optimizer)
                     else keras.optimizers.Adam(learning_rate))
        model.compile(optimizer=optimizer, metrics=["accuracy"], jit_compile=jit_compile)

    def callbacks(self, dataset, epochs):
        p = self.params
        out = []
        if p["schedule"] is not None:
            out.append(AlphaSchedule(p["alpha_max"], p["alpha_min"], total_epochs=epochs,
                                     mode=p["schedule"]))
        if p["sampling"] == "progressive":
            weights = getattr(self, "weights", None)
            if weights is None:
                raise RuntimeError(
                    f"Call `train_dataset` before `callbacks` for method `{self.name}` "
                    "(progressive sampling drives the pipeline's `SamplingWeights`).")
            out.append(ProgressiveSampling(weights, epochs))
        return out


@register("aduni", aliases=("aduc",))
class AduC(UnifiedContrastiveMethod):
    """AdUni with the adaptive unified contrastive loss (AduC): α from 1.0 to 0.01 (the authors'
    compounding schedule, stretched to the run's length)."""

    description = ("AdUni: two-view unified contrastive loss, α 1 → 0.01 by the authors' "
                   "compounding schedule")
    search_space = {"alpha_min": ("float", 0.0, 0.1),
                    "temperature": ("choice", [0.05, 0.07, 0.1, 0.2]),
                    "schedule": ("choice", ["stretched", "cosine"])}


@register("aduni-fixed-alpha")
class AdUniFixedAlpha(UnifiedContrastiveMethod):
    """`aduni-fixed-alpha`: "AdUni without AduC", the paper's ablation: α held at α_max = 1.0.

    The same as `methods.get("aduni", schedule=None, alpha=1.0)`; pass `alpha=` for another
    constant.

    Why 1.0: the ablation removes the adaptive schedule and nothing else, so α stays where AduC
    starts it. In the authors' code (github.com/thomascong121/AdUni, `main_supcon_cl.py`)
    training without `--adp_alpha` uses the constant `--alpha` at every epoch, and their
    `run.sh` passes `--alpha 1` (with `--alpha_min 0.01` for the adaptive run), i.e. the
    non-adaptive variant of their configuration is α = 1.0 throughout, β = 1. The paper's own
    ablation table could not be read with this project's tools, so this follows the code. A
    PaCo-like small constant is the `paco` row (α = 0.02); the other extreme, the class term
    alone, is `alpha=0.0`.
    """

    description = "AdUni without AduC (ablation): the same loss with α fixed at 1.0"
    defaults = {**UnifiedContrastiveMethod.defaults, "alpha": 1.0, "schedule": None}
    search_space = {"alpha": ("float", 0.005, 1.0, "log"),
                    "temperature": ("choice", [0.05, 0.07, 0.1, 0.2])}


@register("paco")
class PaCo(UnifiedContrastiveMethod):
    """PaCo-style baseline as the AdUni paper ran it: the unified loss with constant α = 0.02
    and a memory queue of the last 1024 examples' projected features as extra keys
    (`models.AdUni(queue_size=1024)`; no momentum encoder: the keys come from the model itself,
    detached).
    """

    description = "PaCo-style unified contrastive loss, constant α = 0.02, queue of 1024 keys"
    defaults = {**UnifiedContrastiveMethod.defaults, "alpha": 0.02, "schedule": None,
                "queue_size": 1024}
    search_space = {"alpha": ("float", 0.005, 1.0, "log"),
                    "temperature": ("choice", [0.05, 0.07, 0.1, 0.2])}


@register("paco-batch")
class PaCoBatch(UnifiedContrastiveMethod):
    """`paco` without its queue: the unified loss from the batch alone, constant α = 0.02 (what
    `paco` was before it had the paper's queue)."""

    description = "PaCo-style unified contrastive loss from the batch, constant α = 0.02"
    defaults = {**UnifiedContrastiveMethod.defaults, "alpha": 0.02, "schedule": None}
    search_space = {"alpha": ("float", 0.005, 1.0, "log"),
                    "temperature": ("choice", [0.05, 0.07, 0.1, 0.2])}


@register("paco-aduni", aliases=("paco-aduc",))
class PaCoAduC(UnifiedContrastiveMethod):
    """PaCo + AduC (the AdUni paper's Table 1): PaCo's queue of 1024 keys with AduC's adaptive
    α (1.0 → 0.01, the `"stretched"` schedule) instead of PaCo's constant α."""

    description = "PaCo + AduC: queue of 1024 keys with α 1 → 0.01 (AduC's schedule)"
    defaults = {**UnifiedContrastiveMethod.defaults, "queue_size": 1024}
    search_space = {"alpha_min": ("float", 0.0, 0.1),
                    "temperature": ("choice", [0.05, 0.07, 0.1, 0.2])}
