"""The imbalance loss family as named methods: focal, class-balanced, LDAM(-DRW), CE-DRW, logit
adjustment.

Every method here trains with instance sampling and the model `model_fn` builds; only the loss
changes, except the LDAM methods, which replace the model's final `Dense` by a
`layers.CosineClassifier` on the same penultimate features (`models.replace_head`), and
`logit-adjusted` with `mode="posthoc"`, which trains with cross-entropy and appends a
`layers.LogitAdjustment` to the trained model.
"""

import math

import keras
from keras import ops

from kerasimb.callbacks.deferred_reweighting import DeferredReweighting
from kerasimb.layers.cosine_classifier import CosineClassifier
from kerasimb.layers.logit_adjustment import LogitAdjustment
from kerasimb.losses.class_balanced import ClassBalancedLoss
from kerasimb.losses.common import ClassWeightsMixin
from kerasimb.losses.focal import FocalLoss
from kerasimb.losses.ldam import LDAMLoss
from kerasimb.losses.logit_adjusted import LogitAdjustedLoss
from kerasimb.methods.registry import Method, register
from kerasimb.models.heads import replace_head
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_choice, check_float


def _gamma(params):
    params["gamma"] = check_float(params["gamma"], "gamma", minimum=0.0)


def _beta(params):
    params["beta"] = check_float(params["beta"], "beta", 0.0, 1.0, max_inclusive=False)


@register("focal")
class Focal(Method):
    """Softmax focal loss (`losses.FocalLoss`).

    Params:
        gamma: float >= 0. Focusing parameter. Defaults to `2.0`.
    """

    description = "instance sampling + softmax focal loss"
    reference = "Lin et al., ICCV 2017"
    defaults = {"gamma": 2.0}
    search_space = {"gamma": ("float", 0.0, 5.0)}

    def validate_params(self, params):
        _gamma(params)
        return params

    def loss(self, dataset):
        return FocalLoss(gamma=self.params["gamma"])


@register("cb-softmax")
class ClassBalancedSoftmax(Method):
    """Class-balanced softmax cross-entropy (`losses.ClassBalancedLoss(loss_type="softmax")`).

    Params:
        beta: float in [0, 1). Effective-number hyperparameter. Defaults to `0.9999`.
    """

    description = "instance sampling + class-balanced (effective number) softmax cross-entropy"
    reference = "Cui et al., CVPR 2019"
    defaults = {"beta": 0.9999}
    search_space = {"beta": ("choice", [0.9, 0.99, 0.999, 0.9999])}

    def validate_params(self, params):
        _beta(params)
        return params

    def loss(self, dataset):
        return ClassBalancedLoss(dataset.class_counts, beta=self.params["beta"], loss_type="softmax")


@register("cb-focal")
class ClassBalancedFocal(Method):
    """Class-balanced sigmoid focal loss (`losses.ClassBalancedLoss(loss_type="focal")`).

    Predictions are `softmax` of the logits like every other method (the model is trained with
    one sigmoid per class; the softmax keeps the arg-max and gives normalised scores).

    Params:
        beta: float in [0, 1). Defaults to `0.9999`.
        gamma: float >= 0. Defaults to `2.0`.
    """

    description = "instance sampling + class-balanced sigmoid focal loss"
    reference = "Cui et al., CVPR 2019"
    defaults = {"beta": 0.9999, "gamma": 2.0}
    search_space = {"beta": ("choice", [0.9, 0.99, 0.999, 0.9999]), "gamma": ("float", 0.0, 5.0)}

    def validate_params(self, params):
        _beta(params)
        _gamma(params)
        return params

    def loss(self, dataset):
        return ClassBalancedLoss(
            dataset.class_counts,
            beta=self.params["beta"],
            loss_type="focal",
            gamma=self.params["gamma"],
        )


@register("ldam")
class LDAM(Method):
    """LDAM loss on a cosine classifier (`losses.LDAMLoss`, `layers.CosineClassifier`).

    `build_model` swaps the final `Dense` of the model `model_fn` builds for a float32
    `CosineClassifier` on the same penultimate features.

    Params:
        max_margin: float > 0. Margin of the rarest class. Defaults to `0.5`.
        scale: float > 0. Logit scale. Defaults to `30.0`.
    """

    description = "instance sampling + LDAM loss on a cosine classifier"
    reference = "Cao et al., NeurIPS 2019"
    defaults = {"max_margin": 0.5, "scale": 30.0}
    search_space = {"max_margin": ("float", 0.1, 1.0), "scale": ("choice", [10.0, 30.0])}

    def validate_params(self, params):
        params["max_margin"] = check_float(
            params["max_margin"], "max_margin", minimum=0.0, min_inclusive=False
        )
        params["scale"] = check_float(params["scale"], "scale", minimum=0.0, min_inclusive=False)
        return params

    def build_model(self, model_fn, dataset):
        model = model_fn(dataset.image_shape, dataset.num_classes)
        head = CosineClassifier(dataset.num_classes, dtype="float32", name="cosine_logits")
        return replace_head(model, head, name=f"{model.name}_cosine")

    def loss(self, dataset):
        return LDAMLoss(
            dataset.class_counts, max_margin=self.params["max_margin"], scale=self.params["scale"]
        )

    def output_transform(self, model):
        return {"logit_scale": self.params["scale"]}

    def predict(self, model, x, batch_size=256):
        """Returns `softmax(scale * cosine)`, the probabilities the loss trains (no margin)."""
        cosines = model.predict(to_float_images(x), batch_size=batch_size, verbose=0)
        logits = self.params["scale"] * keras.ops.convert_to_tensor(cosines, "float32")
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))


@register("ldam-drw")
class LDAMDRW(LDAM):
    """LDAM with deferred re-weighting (`callbacks.DeferredReweighting`).

    Unweighted LDAM until epoch `floor(drw_start * epochs)`, then effective-number class weights
    with `beta` (Cao et al. switch at epoch 160 of 200, `drw_start=0.8`). Cao et al. also divide
    the learning rate by 100 at that epoch; `compare` keeps one Adam learning rate for every
    method, so this method does not.

    Params:
        max_margin: float > 0. Defaults to `0.5`.
        scale: float > 0. Defaults to `30.0`.
        drw_start: float in [0, 1). Fraction of the epochs before re-weighting. Defaults to `0.8`.
        beta: float in [0, 1). Effective-number hyperparameter. Defaults to `0.9999`.
    """

    description = "LDAM on a cosine classifier + deferred effective-number re-weighting"
    reference = "Cao et al., NeurIPS 2019"
    defaults = {"max_margin": 0.5, "scale": 30.0, "drw_start": 0.8, "beta": 0.9999}
    search_space = {**LDAM.search_space, "drw_start": ("float", 0.5, 0.9),
                    "beta": ("choice", [0.99, 0.999, 0.9999])}

    def validate_params(self, params):
        params = super().validate_params(params)
        _drw_params(params)
        return params

    def start_epoch(self, epochs):
        """The first (0-based) re-weighted epoch of a run of `epochs` epochs."""
        return _drw_start_epoch(self.params, epochs)

    def callbacks(self, dataset, epochs):
        return [
            DeferredReweighting(
                dataset.class_counts, self.start_epoch(epochs), beta=self.params["beta"]
            )
        ]


def _drw_params(params):
    params["drw_start"] = check_float(params["drw_start"], "drw_start", 0.0, 1.0,
                                      max_inclusive=False)
    _beta(params)


def _drw_start_epoch(params, epochs):
    return int(math.floor(params["drw_start"] * epochs))


class _DeferredWeightedCrossEntropy(ClassWeightsMixin, keras.losses.Loss):
    """Softmax cross-entropy whose per-class weights `callbacks.DeferredReweighting` switches
    on: each example's loss is multiplied by `sum_c y_c w_c` (`w_y` for one-hot targets), the
    batch loss is the mean. All weights are 1 until set."""

    def __init__(self, num_classes, name="drw_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self._init_class_weights(None, self.num_classes)

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        if len(y_true.shape) == 1 or y_true.shape[-1] == 1:
            y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        y_true = ops.cast(y_true, "float32")
        ce = -ops.sum(y_true * ops.log_softmax(logits, axis=-1), axis=-1)
        return ops.sum(y_true * self._class_weights, axis=-1) * ce

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@register("ce-drw")
class CrossEntropyDRW(Method):
    """Cross-entropy with deferred re-weighting (Cao et al.'s DRW without LDAM's margins).

    Unweighted softmax cross-entropy until epoch `floor(drw_start * epochs)`, then each example
    weighted by the effective-number weight of its class, `losses.class_weights(counts,
    "effective", beta)` (summing to the number of classes), switched by the same
    `callbacks.DeferredReweighting` as `ldam-drw`. Zeng et al. report it as "CE-DRW" (Table 2).

    Params:
        drw_start: float in [0, 1). Fraction of the epochs before re-weighting. Defaults to `0.8`.
        beta: float in [0, 1). Effective-number hyperparameter. Defaults to `0.9999`.

    Example:

    >>> method = CrossEntropyDRW()
    >>> method.start_epoch(20)
    16
    """

    description = "instance sampling + cross-entropy with deferred effective-number re-weighting"
    reference = "Cao et al., NeurIPS 2019 (DRW)"
    defaults = {"drw_start": 0.8, "beta": 0.9999}
    search_space = {"drw_start": ("float", 0.5, 0.9), "beta": ("choice", [0.99, 0.999, 0.9999])}

    def validate_params(self, params):
        _drw_params(params)
        return params

    def start_epoch(self, epochs):
        """The first (0-based) re-weighted epoch of a run of `epochs` epochs."""
        return _drw_start_epoch(self.params, epochs)

    def loss(self, dataset):
        return _DeferredWeightedCrossEntropy(dataset.num_classes)

    def callbacks(self, dataset, epochs):
        return [DeferredReweighting(dataset.class_counts, self.start_epoch(epochs),
                                    beta=self.params["beta"])]


@register("logit-adjusted")
class LogitAdjusted(Method):
    """Logit adjustment (Menon et al., 2021), by the loss (default) or post hoc.

    - `mode="loss"`: train with `losses.LogitAdjustedLoss(tau)` and predict with the raw logits.
    - `mode="posthoc"`: train with cross-entropy, then append `layers.LogitAdjustment(tau)` to the
      trained model (the returned model predicts adjusted logits).

    Params:
        tau: float >= 0. Defaults to `1.0`.
        mode: `"loss"` or `"posthoc"`. Defaults to `"loss"`.
    """

    description = "instance sampling + logit-adjusted cross-entropy (log prior in the softmax)"
    reference = "Menon et al., ICLR 2021"
    defaults = {"tau": 1.0, "mode": "loss"}
    search_space = {"tau": ("float", 0.0, 2.0)}

    def validate_params(self, params):
        params["tau"] = check_float(params["tau"], "tau", minimum=0.0)
        check_choice(params["mode"], "mode", ("loss", "posthoc"))
        return params

    def loss(self, dataset):
        if self.params["mode"] == "posthoc":
            return super().loss(dataset)
        return LogitAdjustedLoss(dataset.class_counts, tau=self.params["tau"])

    def train(self, dataset, model_fn, *args, **kwargs):
        model, history = super().train(dataset, model_fn, *args, **kwargs)
        if self.params["mode"] == "posthoc":
            adjust = LogitAdjustment(dataset.class_counts, self.params["tau"], name="logit_adjustment")
            model = keras.Model(model.inputs, adjust(model.outputs[0]), name=f"{model.name}_adjusted")
        return model, history


@register("balanced-softmax")
class BalancedSoftmax(Method):
    """Balanced softmax (Ren et al., NeurIPS 2020): `LogitAdjustedLoss` with `tau=1`.

    The same loss as `logit-adjusted` at its default `tau=1.0`, under its own name.
    """

    description = "instance sampling + balanced softmax (logits + log prior in the softmax)"
    reference = "Ren et al., NeurIPS 2020; Menon et al., ICLR 2021 (tau=1)"

    def loss(self, dataset):
        return LogitAdjustedLoss(dataset.class_counts, tau=1.0)
