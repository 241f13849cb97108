"""Imbalance-aware losses (the loss family lands with its issue) and class weights."""

from kerasimb.losses.margin import MarginLoss, margin_loss
from kerasimb.losses.weights import class_weights

__all__ = ["MarginLoss", "margin_loss", "class_weights"]
