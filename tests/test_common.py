"""Checks that hold for every public symbol (imblearn's test_common idea).

A new serializable export without an entry in EXAMPLES fails `test_round_trip` with a KeyError:
add the smallest constructor arguments that build it.
"""

import importlib

import keras
import pytest

import kerasimb
from kerasimb.api_export import PUBLIC_API, serializable_exports
from kerasimb.testing import TestCase

EXAMPLES = {
    "BalancedAccuracy": {"num_classes": 3},
    "ClassBalancedLoss": {"class_counts": [10, 5, 2], "beta": 0.99, "loss_type": "focal"},
    "CosineClassifier": {"units": 3, "scale": 2.0},
    "FocalLoss": {"gamma": 1.5, "alpha": [1.0, 2.0, 3.0]},
    "LDAMLoss": {"class_counts": [10, 5, 2], "class_weights": [0.5, 1.0, 1.5]},
    "LogitAdjustedLoss": {"class_counts": [10, 5, 2], "tau": 0.5},
    "LogitAdjustment": {"class_counts": [10, 5, 2, 1], "tau": 1.0},  # input_shape (4,)
    "ConfusionMatrixMetric": {"num_classes": 3},
    "MacroF1": {"num_classes": 3},
    "MatthewsCorrelation": {"num_classes": 3},
    "QuadraticKappa": {"num_classes": 3},
    "SmallestClassRecall": {"num_classes": 3, "class_counts": [10, 5, 2]},
    "SmallCNN": {"input_shape": (16, 16, 1), "num_classes": 3, "width": 4, "depth": 2},
    "QuadSNet": {"input_shape": (16, 16, 1), "num_classes": 2, "filters": (2, 2, 2, 2),
                 "classifier_units": ()},
    "QuadSNetBlock": {"filters": 2, "kernel_size": 3},
    "MarginLoss": {"class_counts": [5, 2, 1]},
    "CenterLoss": {},
    "TripletLoss": {"margin": 5.0, "mining": "batch_all", "distance": "squared"},
    "SupConLoss": {"temperature": 0.1, "base_temperature": 0.07},
    "ProjectionHead": {"hidden_dim": 8, "output_dim": 4},
    "TwoStageClassifier": {  # a tiny feature model (batch, 4) -> (batch, 5)
        "backbone": keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)]),
        "num_classes": 3, "metric_loss": "center"},
    "UnifiedContrastiveLoss": {"class_counts": [10, 5, 2], "alpha": 0.5, "beta": 1.0},
    "InferenceModel": {  # a tiny network (batch, 4, 1, 1) -> (batch, 2 logits)
        "network": keras.Sequential([keras.Input((4, 1, 1)), keras.layers.Flatten(),
                                     keras.layers.Dense(2)]),
        "image_shape": (4, 1, 1), "class_names": ["a", "b"], "class_counts": [9, 3],
        "logit_scale": 2.0, "temperature": 1.5},
    "BBN": {  # a tiny feature model (batch, 4) -> (batch, 5)
        "backbone": keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)]),
        "num_classes": 3, "branch_units": 6, "alpha": 0.5},
    "AdUni": {  # a tiny feature model (batch, 4) -> (batch, 5)
        "encoder": keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)]),
        "num_classes": 3, "class_counts": [10, 5, 2], "projection_dim": 4},
    # learning-rate schedules (not layers: a config round-trip and equal values, below)
    "ConstantSchedule": {"base_lr": 0.1, "warmup_steps": 2},
    "CosineSchedule": {"base_lr": 0.1, "total_steps": 20, "warmup_steps": 2, "floor": 1e-3},
    "StepSchedule": {"base_lr": 0.1, "step_size": 5, "factor": 0.5, "warmup_steps": 1},
    "CyclicSchedule": {"base_lr": 0.1, "cycle_steps": 6, "warmup_steps": 1, "floor": 1e-3},
}

# Layers that need more than a (batch, 4) input for `run_keras_file_test`.
KERAS_FILE_KWARGS = {"QuadSNetBlock": {"input_shape": (8, 8, 2)}}


def test_every_public_path_resolves_to_its_symbol():
    for path, symbol in PUBLIC_API.items():
        module_path, _, attr = path.rpartition(".")
        module = importlib.import_module(module_path)
        assert getattr(module, attr) is symbol, path


def test_every_public_symbol_has_a_docstring_with_an_example_or_args():
    for path, symbol in PUBLIC_API.items():
        doc = symbol.__doc__ or ""
        assert len(doc.strip()) > 40, f"{path} has no real docstring"


def test_public_names_listed_in_all():
    for path in PUBLIC_API:
        module_path, _, attr = path.rpartition(".")
        module = importlib.import_module(module_path)
        assert attr in getattr(module, "__all__", []), f"{attr} missing from {module_path}.__all__"


@pytest.mark.parametrize("cls", serializable_exports(), ids=lambda c: c.__name__)
def test_round_trip(cls):
    case = TestCase()
    instance = cls(**EXAMPLES[cls.__name__])
    if isinstance(instance, keras.optimizers.schedules.LearningRateSchedule):
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(instance))
        assert type(revived) is cls and revived.get_config() == instance.get_config()
        for step in range(25):
            assert float(revived(step)) == float(instance(step))
        return
    case.run_serialization_test(instance)
    case.run_keras_file_test(instance, **KERAS_FILE_KWARGS.get(cls.__name__, {}))


def test_version():
    assert isinstance(kerasimb.__version__, str) and kerasimb.__version__.count(".") == 2
    assert keras.backend.backend() == "tensorflow"
