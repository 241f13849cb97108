"""kerasimb.models: `SmallCNN`, `keras.applications` backbones and `model_fn(name)`."""

from kerasimb.models.adauni import AdUni
from kerasimb.models.backbones import (
    BACKBONES,
    build_backbone,
    build_classifier,
    model_fn,
    names,
)
from kerasimb.models.heads import feature_extractor, replace_head
from kerasimb.models.quadsnet import QuadSNet
from kerasimb.models.resnet18 import ResNet18
from kerasimb.models.small_cnn import SmallCNN
from kerasimb.models.two_stage import TwoStageClassifier

__all__ = [
    "AdUni",
    "BACKBONES",
    "QuadSNet",
    "ResNet18",
    "SmallCNN",
    "TwoStageClassifier",
    "build_backbone",
    "build_classifier",
    "feature_extractor",
    "model_fn",
    "names",
    "replace_head",
]
