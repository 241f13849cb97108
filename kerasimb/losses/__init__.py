"""Imbalance-aware losses (the loss family lands with its issue) and class weights."""

from kerasimb.losses.weights import class_weights

__all__ = ["class_weights"]
