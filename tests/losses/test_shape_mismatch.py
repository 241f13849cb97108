"""A batch of 5 labels against 4 predictions is a ValueError naming both arguments and shapes,
not TensorFlow's "Incompatible shapes" from inside a loss."""

import numpy as np
import pytest

from kerasimb import losses

LABELS = np.array([0, 1, 2, 0, 1])
LOGITS = np.zeros((4, 3), "float32")
COUNTS = [10, 5, 2]

CLASSIFIER_LOSSES = {
    "focal": lambda: losses.FocalLoss(),
    "ldam": lambda: losses.LDAMLoss(COUNTS),
    "logit_adjusted": lambda: losses.LogitAdjustedLoss(COUNTS),
    "class_balanced": lambda: losses.ClassBalancedLoss(COUNTS),
    "margin": lambda: losses.MarginLoss(class_counts=COUNTS),
}
MESSAGE = (r"Invalid value received for arguments `y_true` and `y_pred`\. Expected the same "
           r"number of examples in both \(the first dimension\)\. Received: y_true with shape "
           r"\(5,( \d)?\) and y_pred with shape \(4, 3\)")


@pytest.mark.parametrize("name", sorted(CLASSIFIER_LOSSES))
@pytest.mark.parametrize("targets", [LABELS, np.eye(3)[LABELS]], ids=["labels", "one-hot"])
def test_classifier_losses_name_both_shapes(name, targets):
    with pytest.raises(ValueError, match=MESSAGE):
        CLASSIFIER_LOSSES[name]()(targets, LOGITS)


def test_loss_functions_name_both_shapes():
    with pytest.raises(ValueError, match=MESSAGE):
        losses.focal_loss(LABELS, LOGITS)
    with pytest.raises(ValueError, match=MESSAGE):
        losses.logit_adjusted_loss(LABELS, LOGITS, COUNTS)


@pytest.mark.parametrize("loss", [losses.SupConLoss(), losses.TripletLoss()],
                         ids=["supcon", "triplet"])
def test_metric_learning_losses_name_both_shapes(loss):
    with pytest.raises(ValueError, match=r"arguments `labels` and `features`.*Received: labels "
                                         r"with shape \(5,\) and features with shape \(4, 3\)"):
        loss(LABELS, LOGITS)


def test_center_loss_names_both_shapes():
    with pytest.raises(ValueError, match=r"arguments `labels` and `features`"):
        losses.center_loss(LABELS, LOGITS, np.zeros((3, 3), "float32"))


def test_matching_batches_still_work():
    value = losses.FocalLoss()(LABELS[:4], LOGITS)
    assert np.isfinite(float(value))
