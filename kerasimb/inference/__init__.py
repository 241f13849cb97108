"""kerasimb.inference: inference-time corrections for imbalance (see DESIGN.md)."""

from kerasimb.inference.perturbation import (
    PerturbedPredictor,
    perturb_inputs,
    perturbation_target,
    select_epsilon,
    sweep,
)
from kerasimb.inference.tta import predict_tta

__all__ = [
    "PerturbedPredictor",
    "perturb_inputs",
    "perturbation_target",
    "predict_tta",
    "select_epsilon",
    "sweep",
]
