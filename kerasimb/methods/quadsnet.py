"""`quadsnet-margin`: QuadSNet trained with the class-weighted margin loss (Ali et al., 2021)."""

from kerasimb.losses.margin import FORMS, SCORES, WEIGHT_MODES, MarginLoss
from kerasimb.methods.registry import Method, register
from kerasimb.models.quadsnet import DEFAULT_CLASSIFIER_UNITS, DEFAULT_FILTERS, QuadSNet
from kerasimb.utils.validation import check_choice, check_float


@register("quadsnet-margin")
class QuadSNetMargin(Method):
    """QuadSNet's class-weighted margin loss; with `backbone="quadsnet"`, the paper's method.

    The method is the loss (and the paper's training: instance sampling, no augmentation, Adam;
    the learning rate is the run's, the paper's is 1e-4). By default (`model="backbone"`) it
    trains the run's model, so the paper's pairing is
    `kerasimb compare --methods ce quadsnet-margin --backbone quadsnet` (QuadSNet for every
    method: the loss against cross-entropy on the same model), and the default
    `kerasimb compare` (SmallCNN) stays fast. `model="quadsnet"` builds
    `kerasimb.models.QuadSNet` whatever backbone the run names, so that
    `compare(methods=["ce", QuadSNetMargin(model="quadsnet")], backbone="mobilenetv2")` puts
    MobileNetV2 with cross-entropy against QuadSNet with the margin loss, the comparison of the
    paper's Table III (`recipes/quadsnet.py` builds that table).

    Predictions are `softmax(logits)`, whose arg-max is that of the per-class sigmoid scores
    the loss uses (the logits are ranked the same way).

    Params:
        model: `"backbone"` (the run's model) or `"quadsnet"`. Defaults to `"backbone"`.
        filters: list of int, QuadSNet's filters per block, for `model="quadsnet"`. Defaults
            to `[56, 112, 224, 448]`.
        classifier_units: list of int, QuadSNet's hidden classifier layers, for
            `model="quadsnet"`. Defaults to `[256]`.
        m_plus, m_minus, down_weight: the margin loss's m+, m- and lambda. Defaults to 0.9, 0.1,
            0.5.
        weighting: `"inverse"`, `"sqrt_inverse"`, `"effective"` or `"none"`: class weights from
            the training counts. Defaults to `"inverse"`.
        score: `"sigmoid"` or `"softmax"`. Defaults to `"sigmoid"`.
        weight_mode: `"example"` or `"class"`. Defaults to `"example"`.
        form: `"squared_hinge"` (Sabour et al.'s margin loss, which the paper adopts by
            citation) or `"printed"` (the paper's Eq. 2 as printed, the square on the score
            inside a plain hinge); see `losses.margin_loss`. Defaults to `"squared_hinge"`.
    """

    description = "class-weighted margin loss (QuadSNet's; pair with --backbone quadsnet)"
    reference = "Ali, Ali and Hussain, IJACSA 12(7), 2021"
    defaults = {
        "model": "backbone",
        "filters": list(DEFAULT_FILTERS),
        "classifier_units": list(DEFAULT_CLASSIFIER_UNITS),
        "m_plus": 0.9,
        "m_minus": 0.1,
        "down_weight": 0.5,
        "weighting": "inverse",
        "score": "sigmoid",
        "weight_mode": "example",
        "form": "squared_hinge",
    }
    search_space = {"m_plus": ("float", 0.7, 0.95), "m_minus": ("float", 0.05, 0.3),
                    "down_weight": ("float", 0.25, 1.0)}

    def validate_params(self, params):
        check_choice(params["model"], "model", ("backbone", "quadsnet"))
        params["filters"] = [int(f) for f in params["filters"]]
        params["classifier_units"] = [int(u) for u in params["classifier_units"]]
        params["m_plus"] = check_float(params["m_plus"], "m_plus", 0.0, 1.0)
        params["m_minus"] = check_float(params["m_minus"], "m_minus", 0.0, 1.0)
        params["down_weight"] = check_float(params["down_weight"], "down_weight", minimum=0.0)
        check_choice(params["weighting"], "weighting", ("inverse", "sqrt_inverse", "effective", "none"))
        check_choice(params["score"], "score", SCORES)
        check_choice(params["weight_mode"], "weight_mode", WEIGHT_MODES)
        check_choice(params["form"], "form", FORMS)
        return params

    def build_model(self, model_fn, dataset):
        if self.params["model"] == "backbone":
            return model_fn(dataset.image_shape, dataset.num_classes)
        return QuadSNet(
            dataset.image_shape, dataset.num_classes, filters=self.params["filters"],
            classifier_units=self.params["classifier_units"],
        )

    def loss(self, dataset):
        weighting = self.params["weighting"]
        return MarginLoss(
            m_plus=self.params["m_plus"],
            m_minus=self.params["m_minus"],
            down_weight=self.params["down_weight"],
            class_counts=None if weighting == "none" else dataset.class_counts,
            weighting="inverse" if weighting == "none" else weighting,
            score=self.params["score"],
            weight_mode=self.params["weight_mode"],
            form=self.params["form"],
        )
