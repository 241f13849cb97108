"""kerasimb.models: `SmallCNN`, `keras.applications` backbones, the `MODELS` registry and
`model_fn(name)`."""

from kerasimb.models.aduni import AdUni
from kerasimb.models.bbn import BBN
from kerasimb.models.backbones import (
    MODELS,
    Backbone,
    build_backbone,
    build_classifier,
    check_weights,
    min_input_size,
    model_fn,
)
from kerasimb.models.heads import feature_extractor, output_shape, replace_head
from kerasimb.models.quadsnet import QuadSNet
from kerasimb.models.resnet18 import ResNet18
from kerasimb.models.small_cnn import SmallCNN
from kerasimb.models.two_stage import TwoStageClassifier

__all__ = [
    "AdUni",
    "BBN",
    "Backbone",
    "MODELS",
    "QuadSNet",
    "ResNet18",
    "SmallCNN",
    "TwoStageClassifier",
    "build_backbone",
    "build_classifier",
    "feature_extractor",
    "check_weights",
    "min_input_size",
    "model_fn",
    "output_shape",
    "replace_head",
]
