"""kerasimb.inference: inference-time corrections for imbalance (see DESIGN.md)."""

from kerasimb.inference.perturbation import (
    PerturbedPredictor,
    perturb_inputs,
    perturbation_target,
    select_epsilon,
    sweep,
)

__all__ = [
    "PerturbedPredictor",
    "perturb_inputs",
    "perturbation_target",
    "select_epsilon",
    "sweep",
]
