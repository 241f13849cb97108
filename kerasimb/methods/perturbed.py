"""The `+perturb` modifier: any method, predicted through `inference.PerturbedPredictor`.

`methods.get("ce+perturb")` trains exactly like `ce` and predicts on inputs perturbed toward the
minority classes (Chen et al., MICCAI 2021), with ε chosen on the validation split by default.
`kerasimb compare --methods ce ce+perturb` compares a method with and without the step (it trains
each entry separately; the `perturbed_inference` recipe trains once and scores both).
"""

import weakref

import numpy as np

from kerasimb.inference.perturbation import DEFAULT_GRID, LOSSES, PerturbedPredictor, select_epsilon
from kerasimb.inference.tta import check_flips
from kerasimb.methods import registry
from kerasimb.methods.registry import Method
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_choice, check_float

PERTURB_DEFAULTS = {
    "epsilon": "auto",
    "temperature": 1000.0,
    "perturb_loss": "ce",
    "epsilon_grid": list(DEFAULT_GRID),
    "epsilon_metric": "balanced_accuracy",
    "flips": None,
}

# Keras Tuner space (kerasimb.methods.search_space): ε "auto" (chosen on the validation split)
# or a fixed value, and the temperature T.
PERTURB_SEARCH_SPACE = {
    "epsilon": ("choice", ["auto", *DEFAULT_GRID]),
    "temperature": ("float", 1.0, 1000.0, "log"),
}


class Perturbed(Method):
    """Wraps a method: trains it unchanged, then predicts on perturbed inputs.

    After training (`train`, or `prepare(model, dataset)` for a model trained elsewhere) ε is
    chosen on `dataset.val` with `inference.select_epsilon` (or fixed by `epsilon=`); `predict`
    then perturbs the test images with the training `class_counts` and hands x̃ to the wrapped
    method's own `predict`, so methods with their own prediction (LDAM's scaled cosines, post-hoc
    logit adjustment) keep it. The step differentiates the model's outputs as logits: for LDAM
    these are cosines, i.e. logits / scale, which amounts to a temperature T · scale.

    Params (besides the wrapped method's own):
        epsilon: `"auto"` (choose on the validation split) or a float >= 0. Defaults to `"auto"`.
        temperature: float > 0. Defaults to `1000.0`.
        perturb_loss: `"ce"`, `"mse"` or `"focal"`. Defaults to `"ce"`.
        epsilon_grid: list of floats >= 0 for `"auto"`. Defaults to `[1e-4, 3e-4, 1e-3, 3e-3, 1e-2]`.
        epsilon_metric: report key maximised by `"auto"`. Defaults to `"balanced_accuracy"`.
        flips: `None` or flip names: perturbed flip views averaged (then the wrapped method's
            `predict` is bypassed). Defaults to `None`.

    Args:
        base: the wrapped method's name (or a `Method` instance).
        **params: the wrapped method's hyperparameters and the ones above.
    """

    reference = "Chen et al., MICCAI 2021 (perturbed input at inference)"

    def __init__(self, base, **params):
        own = {k: v for k, v in params.items() if k in PERTURB_DEFAULTS}
        rest = {k: v for k, v in params.items() if k not in PERTURB_DEFAULTS}
        if isinstance(base, str) and base.endswith("+perturb"):
            raise ValueError("Invalid value received for argument `identifier`. Expected one "
                             f"`+perturb` at most. Received: identifier={base + '+perturb'!r}")
        self.base = registry.get(base, **rest)
        self.name = f"{self.base.name or type(self.base).__name__}+perturb"
        self.description = f"{self.base.description}; predicts on perturbed inputs"
        self.defaults = {**self.base.defaults, **PERTURB_DEFAULTS}
        self.search_space = {**self.base.search_space, **PERTURB_SEARCH_SPACE}
        self.perturb_params = self.validate_params({**PERTURB_DEFAULTS, **own})
        self.params = {**self.base.params, **self.perturb_params}
        self.fitted = weakref.WeakKeyDictionary()  # model -> {"epsilon", "scores", "predictor"}

    def validate_params(self, params):
        if params["epsilon"] != "auto":
            params["epsilon"] = check_float(params["epsilon"], "epsilon", minimum=0.0)
        params["temperature"] = check_float(params["temperature"], "temperature", minimum=0.0,
                                            min_inclusive=False)
        check_choice(params["perturb_loss"], "perturb_loss", LOSSES)
        params["epsilon_grid"] = [check_float(e, "epsilon_grid", minimum=0.0)
                                  for e in params["epsilon_grid"]]
        if not params["epsilon_grid"]:
            raise ValueError("Invalid value received for argument `epsilon_grid`. Expected at "
                             "least one value. Received: epsilon_grid=[]")
        flips = check_flips(params["flips"])
        params["flips"] = list(flips) or None
        return params

    # --- The wrapped method trains -------------------------------------------------------------

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        return self.base.train_dataset(dataset, batch_size, seed, augment=augment)

    def build_model(self, model_fn, dataset):
        return self.base.build_model(model_fn, dataset)

    def loss(self, dataset):
        return self.base.loss(dataset)

    def callbacks(self, dataset, epochs):
        return self.base.callbacks(dataset, epochs)

    def fit_kwargs(self, dataset):
        return self.base.fit_kwargs(dataset)

    def compile(self, model, dataset, learning_rate, jit_compile="auto"):
        return self.base.compile(model, dataset, learning_rate, jit_compile=jit_compile)

    def train(self, dataset, model_fn, *args, **kwargs):
        """Trains with the wrapped method, then `prepare`s the model; returns `(model, history)`."""
        model, history = self.base.train(dataset, model_fn, *args, **kwargs)
        self.prepare(model, dataset)
        return model, history

    # --- Prediction ----------------------------------------------------------------------------

    def prepare(self, model, dataset):
        """Chooses ε for `model` (on `dataset.val` when `epsilon="auto"`); returns the record.

        Returns:
            dict with `"epsilon"`, `"scores"` (`{ε: validation score}`, empty for a fixed ε) and
            `"predictor"` (the `PerturbedPredictor`).
        """
        p = self.perturb_params
        counts = list(dataset.class_counts)
        if p["epsilon"] == "auto":
            x_val, y_val = dataset.val
            epsilon, scores = select_epsilon(
                model, to_float_images(x_val), y_val, counts, grid=p["epsilon_grid"],
                metric=p["epsilon_metric"], temperature=p["temperature"], loss=p["perturb_loss"],
            )
        else:
            epsilon, scores = p["epsilon"], {}
        predictor = PerturbedPredictor(model, counts, epsilon=epsilon,
                                       temperature=p["temperature"], loss=p["perturb_loss"],
                                       flips=p["flips"])
        self.fitted[model] = {"epsilon": epsilon, "scores": scores, "predictor": predictor}
        return self.fitted[model]

    def output_transform(self, model):
        """The wrapped method's transform, and the perturbation with the ε `prepare` chose."""
        self._check_prepared(model)
        p = self.perturb_params
        return {**self.base.output_transform(model),
                "perturbation": {"epsilon": float(self.fitted[model]["epsilon"]),
                                 "temperature": p["temperature"], "loss": p["perturb_loss"],
                                 "flips": p["flips"]}}

    def _check_prepared(self, model):
        if model not in self.fitted:
            raise ValueError(
                f"Invalid value received for argument `model`. `{self.name}` needs the training "
                "class counts and ε: train the model with this method or call "
                f"`prepare(model, dataset)` first. Received: model={model.name!r}"
            )

    def predict(self, model, x, batch_size=256):
        """Returns class probabilities `(N, C)` on the perturbed images `x` (uint8 or float)."""
        self._check_prepared(model)
        predictor = self.fitted[model]["predictor"]
        x = to_float_images(x)
        if predictor.flips:
            return predictor.probabilities(predictor.predict(x, batch_size=batch_size)).astype(
                np.float32)
        return self.base.predict(model, predictor.perturb(x, batch_size=batch_size),
                                 batch_size=batch_size)


registry.MODIFIERS.register(
    "perturb", Perturbed, description="predicts on inputs perturbed toward the minority classes")
