"""Baselines that need nothing beyond the foundation: plain cross-entropy and re-weighting."""

from kerasimb.losses.weights import class_weights
from kerasimb.methods.registry import Method, register
from kerasimb.utils.validation import check_choice, check_float


@register("ce")
class CrossEntropy(Method):
    """Instance-based sampling with softmax cross-entropy: the baseline every paper reports."""

    description = "instance sampling + cross-entropy"
    reference = "standard empirical risk minimisation"


@register("reweight")
class Reweight(Method):
    """Cross-entropy with per-class weights from the training counts (via `fit(class_weight=)`).

    Params:
        weighting: `"inverse"` (1/n_j), `"sqrt_inverse"` or `"effective"` (Cui et al., 2019).
            Defaults to `"inverse"`.
        beta: float in [0, 1), for `"effective"`. Defaults to `0.9999`.
    """

    description = "instance sampling + class-weighted cross-entropy"
    reference = "inverse-frequency re-weighting; effective number: Cui et al., CVPR 2019"
    defaults = {"weighting": "inverse", "beta": 0.9999}
    search_space = {"weighting": ("choice", ["inverse", "sqrt_inverse", "effective"]),
                    "beta": ("choice", [0.9, 0.99, 0.999, 0.9999])}

    def validate_params(self, params):
        check_choice(params["weighting"], "weighting", ("inverse", "sqrt_inverse", "effective"))
        params["beta"] = check_float(params["beta"], "beta", 0.0, 1.0, max_inclusive=False)
        return params

    def fit_kwargs(self, dataset):
        weights = class_weights(dataset.class_counts, self.params["weighting"], self.params["beta"])
        return {"class_weight": dict(enumerate(weights))}
