"""Triplet loss with in-batch mining (Schroff et al., 2015; Hermans et al., 2017) on raw features."""

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import check_batch_sizes
from kerasimb.losses.metric_labels import integer_labels, same_label_mask
from kerasimb.utils.runtime import global_batch, scale_for_replicas
from kerasimb.utils.validation import check_choice, check_float

_BIG = 1e30


def pairwise_distances(features, distance="euclidean"):
    """Returns the `(B, B)` matrix of Euclidean or squared Euclidean distances between rows.

    The squared distances are clipped at 0 (round-off); the Euclidean square root has a finite
    gradient at zero distance (the diagonal, duplicate features): zero entries get gradient 0.
    """
    features = ops.cast(features, "float32")
    squared_norms = ops.sum(ops.square(features), axis=-1)
    squared = squared_norms[:, None] + squared_norms[None, :] - 2.0 * ops.matmul(
        features, ops.transpose(features)
    )
    squared = ops.maximum(squared, 0.0)
    if distance == "squared":
        return squared
    zero = ops.cast(ops.less_equal(squared, 1e-16), "float32")
    return ops.sqrt(squared + zero * 1e-16) * (1.0 - zero)


@kerasimb_export("kerasimb.losses.triplet_loss", serializable=False)
def triplet_loss(labels, features, margin=50.0, mining="batch_hard", distance="euclidean"):
    """Triplet margin loss of one batch, max(0, d(a, p) − d(a, n) + m), with in-batch mining.

    - `"batch_hard"` (Hermans et al., 2017): for each anchor, its farthest positive (same class,
      another sample) and its nearest negative; the loss is the mean over the anchors that have
      both.
    - `"batch_all"`: every valid triplet (a, p, n) with y_a = y_p ≠ y_n, a ≠ p; the loss is the
      mean over all valid triplets (including those already satisfied, whose loss is 0).

    Anchors without a positive or a negative in the batch (a class with one sample, a batch of
    one class) are skipped; a batch with no valid anchor gives 0, never NaN. Distances are
    computed on the raw features (no normalisation), in float32; the default margin 50 is the one
    Zeng et al. use on raw features.

    The function computes on exactly the batch it is given: called per replica under a
    `tf.distribute` strategy it sees only that replica's slice. `TripletLoss` and
    `models.TwoStageClassifier` gather the global batch first (see their docstrings).

    Args:
        labels: integer labels `(B,)` / `(B, 1)` or one-hot / soft labels `(B, C)` (argmax).
        features: float tensor `(B, d)`.
        margin: float >= 0. Defaults to `50.0`.
        mining: `"batch_hard"` or `"batch_all"`. Defaults to `"batch_hard"`.
        distance: `"euclidean"` or `"squared"` (squared Euclidean). Defaults to `"euclidean"`.

    Returns:
        Scalar float32 tensor.

    Example:

    >>> import numpy as np
    >>> features = np.array([[0.0], [1.0], [3.0]], "float32")
    >>> float(triplet_loss(np.array([0, 0, 1]), features, margin=1.0))
    0.0
    >>> float(triplet_loss(np.array([0, 0, 1]), features, margin=3.0))
    1.5

    References:
        - [Schroff et al., 2015](https://arxiv.org/abs/1503.03832)
        - [Hermans et al., 2017](https://arxiv.org/abs/1703.07737)
    """
    margin = check_float(margin, "margin", minimum=0.0)
    check_choice(mining, "mining", ("batch_hard", "batch_all"))
    check_choice(distance, "distance", ("euclidean", "squared"))
    check_batch_sizes(labels, features, "labels", "features")
    labels = integer_labels(labels)
    features = ops.cast(features, "float32")
    if len(features.shape) != 2:
        raise ValueError(
            "Invalid value received for argument `features`. Expected a tensor of shape "
            f"(batch, feature_dim). Received: shape {tuple(features.shape)}"
        )
    dist = pairwise_distances(features, distance)
    same = same_label_mask(labels, labels)
    eye = ops.eye(ops.shape(labels)[0], dtype="float32")
    positive = same - eye  # same class, another sample
    negative = 1.0 - same
    if mining == "batch_hard":
        hardest_positive = ops.max(dist * positive - _BIG * (1.0 - positive), axis=1)
        hardest_negative = ops.min(dist + _BIG * (1.0 - negative), axis=1)
        valid = ops.cast(
            ops.logical_and(ops.sum(positive, axis=1) > 0, ops.sum(negative, axis=1) > 0),
            "float32",
        )
        # Where invalid, both terms are replaced by 0 so no huge value enters the graph.
        hardest_positive = ops.where(valid > 0, hardest_positive, 0.0)
        hardest_negative = ops.where(valid > 0, hardest_negative, 0.0)
        per_anchor = ops.relu(hardest_positive - hardest_negative + margin) * valid
        return ops.sum(per_anchor) / ops.maximum(ops.sum(valid), 1.0)
    # batch_all: loss[a, p, n] = d(a, p) - d(a, n) + m over valid triplets.
    valid = positive[:, :, None] * negative[:, None, :]
    per_triplet = ops.relu(dist[:, :, None] - dist[:, None, :] + margin) * valid
    return ops.sum(per_triplet) / ops.maximum(ops.sum(valid), 1.0)


@kerasimb_export("kerasimb.losses.TripletLoss")
class TripletLoss(keras.losses.Loss):
    """Triplet margin loss with in-batch mining on raw features (see `triplet_loss`).

    `y_pred` is the batch of feature vectors `(B, d)` (not logits); the loss is one value per
    batch (the mean over valid anchors or triplets), so `sample_weight` is not supported.

    **Distribution.** Like Keras' own losses, the loss is correct as a compiled loss under a
    `tf.distribute` strategy: inside a step of R > 1 replicas it all-gathers the labels and
    features of every replica (`utils.global_batch`), computes the loss of the **global**
    batch (triplets mined across replicas) and returns it divided by R (the optimizer sums the
    replicas' gradients and Keras' loss tracker multiplies by R again). Outside such a step it
    is the loss of the batch it is given.

    Args:
        margin: float >= 0. Defaults to `50.0` (Zeng et al.).
        mining: `"batch_hard"` or `"batch_all"`. Defaults to `"batch_hard"`.
        distance: `"euclidean"` or `"squared"`. Defaults to `"euclidean"`.
        name: str. Defaults to `"triplet_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = TripletLoss(margin=3.0)
    >>> float(loss(np.array([0, 0, 1]), np.array([[0.0], [1.0], [3.0]], "float32")))
    1.5
    """

    def __init__(self, margin=50.0, mining="batch_hard", distance="euclidean",
                 name="triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = check_float(margin, "margin", minimum=0.0)
        self.mining = check_choice(mining, "mining", ("batch_hard", "batch_all"))
        self.distance = check_choice(distance, "distance", ("euclidean", "squared"))

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Invalid value received for argument `sample_weight`. Expected `None`: the "
                "triplet loss is one value per batch. Received: a sample_weight tensor"
            )
        return super().__call__(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, y_pred = global_batch(y_true, y_pred)
        return scale_for_replicas(
            triplet_loss(y_true, y_pred, self.margin, self.mining, self.distance))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin, "mining": self.mining,
                "distance": self.distance}
