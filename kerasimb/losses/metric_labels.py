"""Label handling shared by the metric-learning losses (center, triplet, supervised contrastive)."""

from keras import ops


def integer_labels(labels):
    """Returns int32 labels `(B,)` from integer `(B,)` / `(B, 1)` labels or one-hot / soft `(B, C)`.

    One-hot or soft labels (a last axis longer than 1) are reduced with `argmax`.
    """
    labels = ops.convert_to_tensor(labels)
    if len(labels.shape) == 2 and labels.shape[-1] is not None and labels.shape[-1] > 1:
        return ops.cast(ops.argmax(labels, axis=-1), "int32")
    return ops.cast(ops.reshape(labels, (-1,)), "int32")


def same_label_mask(labels_a, labels_b):
    """Float32 `(Na, Nb)` matrix, 1 where `labels_a[i] == labels_b[j]`."""
    return ops.cast(ops.equal(labels_a[:, None], labels_b[None, :]), "float32")
