import keras
import pytest

from kerasimb import losses


def test_names_resolve_to_classes():
    counts = [10, 5, 2]
    assert isinstance(losses.get("focal"), losses.FocalLoss)
    assert isinstance(losses.get("FocalLoss", gamma=1.0), losses.FocalLoss)
    assert isinstance(losses.get("focal-loss"), losses.FocalLoss)
    assert isinstance(losses.get("ldam", class_counts=counts), losses.LDAMLoss)
    assert isinstance(losses.get("logit_adjusted", class_counts=counts), losses.LogitAdjustedLoss)
    cb = losses.get("class_balanced", class_counts=counts, beta=0.9)
    assert isinstance(cb, losses.ClassBalancedLoss) and cb.beta == 0.9
    assert losses.get("cb-softmax", class_counts=counts).loss_type == "softmax"
    assert losses.get("balanced_softmax", class_counts=counts).tau == 1.0


def test_keras_names_configs_and_instances():
    assert isinstance(losses.get("categorical_crossentropy"), keras.losses.Loss) or callable(
        losses.get("categorical_crossentropy")
    )
    assert losses.get(None) is None
    loss = losses.FocalLoss(gamma=3.0)
    assert losses.get(loss) is loss
    revived = losses.get(keras.saving.serialize_keras_object(loss))
    assert isinstance(revived, losses.FocalLoss) and revived.gamma == 3.0
    revived = losses.get({"class_name": "LDAMLoss", "config": {"class_counts": [4, 2], "scale": 2.0}})
    assert isinstance(revived, losses.LDAMLoss) and revived.scale == 2.0
    ce = losses.get(keras.saving.serialize_keras_object(keras.losses.CategoricalCrossentropy()))
    assert isinstance(ce, keras.losses.CategoricalCrossentropy)


def test_errors():
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get("no_such_loss")
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(42)
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get({"class_name": "NoSuchLoss", "config": {}})
    with pytest.raises(TypeError, match="needs the argument"):
        losses.get("ldam")
    with pytest.raises(ValueError, match="fixed by this name"):
        losses.get("cb_softmax", class_counts=[2, 1], loss_type="focal")
    with pytest.raises(ValueError, match="apply only to loss names"):
        losses.get(losses.FocalLoss(), gamma=1.0)
