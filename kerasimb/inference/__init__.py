"""kerasimb.inference: inference-time corrections for imbalance and saliency maps (see DESIGN.md)."""

from kerasimb.inference.model import InferenceModel
from kerasimb.inference.perturbation import (
    DEFAULT_GRID,
    PerturbedPredictor,
    perturb_inputs,
    perturbation_target,
    select_epsilon,
    sweep,
)
from kerasimb.inference.robustness import plot_sweep
from kerasimb.inference.saliency import grad_cam, input_gradient, overlay, save_overlays
from kerasimb.inference.temperature import apply_temperature, fit_temperature
from kerasimb.inference.tta import predict_tta

__all__ = [
    "DEFAULT_GRID",
    "InferenceModel",
    "apply_temperature",
    "fit_temperature",
    "PerturbedPredictor",
    "grad_cam",
    "input_gradient",
    "overlay",
    "perturb_inputs",
    "perturbation_target",
    "plot_sweep",
    "predict_tta",
    "save_overlays",
    "select_epsilon",
    "sweep",
]
