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


def test_registry_names_one_entry_per_loss_with_aliases():
    assert losses.LOSSES.names() == [
        "balanced_softmax", "cb_focal", "cb_sigmoid", "cb_softmax", "center", "class_balanced",
        "focal", "ldam", "logit_adjusted", "margin", "sup_con", "triplet", "unified_contrastive"]
    assert losses.LOSSES.aliases("focal") == ["focal_loss", "focalloss"]
    assert losses.LOSSES.aliases("cb") == ["cb", "class_balanced_loss", "classbalancedloss"]
    assert losses.LOSSES.get("CB") is losses.ClassBalancedLoss  # an alias: the same class
    assert losses.LOSSES.canonical("Focal-Loss") == "focal"
    assert losses.LOSSES.list("cb_*") == ["cb_focal", "cb_sigmoid", "cb_softmax"]


def test_names_with_fixed_arguments_are_their_own_entries():
    entry = losses.LOSSES.get("cb_focal")
    assert entry.func is losses.ClassBalancedLoss and entry.keywords == {"loss_type": "focal"}
    described = {name: text for name, _, text in losses.LOSSES.describe()}
    assert described["balanced_softmax"] == "LogitAdjustedLoss(tau=1.0)"
    assert described["cb_sigmoid"] == "ClassBalancedLoss(loss_type='sigmoid')"


def test_every_kerasimb_loss_class_is_registered():
    registered = {entry for entry in map(losses.LOSSES.get, losses.LOSSES)
                  if isinstance(entry, type)}
    exported = {getattr(losses, name) for name in losses.__all__
                if isinstance(getattr(losses, name), type)
                and issubclass(getattr(losses, name), keras.losses.Loss)}
    assert registered == exported
