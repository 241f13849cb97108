"""kerasimb.layers: filled in by its issue (see DESIGN.md)."""

from kerasimb.layers.cosine_classifier import CosineClassifier
from kerasimb.layers.logit_adjustment import LogitAdjustment
from kerasimb.layers.projection_head import ProjectionHead
from kerasimb.layers.quadsnet_block import QuadSNetBlock

__all__ = ["CosineClassifier", "LogitAdjustment", "ProjectionHead", "QuadSNetBlock"]
