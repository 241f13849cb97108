"""Center loss (Wen et al., ECCV 2016): pull every feature towards its class centre."""

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import check_batch_sizes
from kerasimb.losses.metric_labels import integer_labels
from kerasimb.utils.validation import check_float


def _check_features(features, name="features"):
    if len(features.shape) != 2:
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a tensor of shape "
            f"(batch, feature_dim). Received: shape {tuple(features.shape)}"
        )


def _center_distances(labels, features, centers):
    check_batch_sizes(labels, features, "labels", "features")
    labels = integer_labels(labels)
    features = ops.cast(features, "float32")
    centers = ops.cast(centers, "float32")
    _check_features(features)
    _check_features(centers, "centers")
    if features.shape[-1] is not None and centers.shape[-1] is not None and (
        features.shape[-1] != centers.shape[-1]
    ):
        raise ValueError(
            "Invalid value received for argument `centers`. Expected shape (num_classes, "
            f"{features.shape[-1]}) to match the features. Received: shape {tuple(centers.shape)}"
        )
    return ops.sum(ops.square(features - ops.take(centers, labels, axis=0)), axis=-1)


@kerasimb_export("kerasimb.losses.center_loss", serializable=False)
def center_loss(labels, features, centers):
    """Center loss of one batch: the mean over the batch of ‖r_i − c_{y_i}‖².

    Wen et al. (2016) write L_C = ½ Σ_i ‖r_i − c_{y_i}‖² (a sum with a ½); kerasimb takes the
    **mean without the ½**, so the value does not grow with the batch size; Wen's value is
    `center_loss * batch_size / 2`, a constant factor absorbed by the loss coefficient λ
    (0.001 in Zeng et al.). Computed in float32.

    Under a `tf.distribute` strategy a per-replica call sees only the replica's slice; the loss
    is a per-sample mean, so the replicas' means divided by the number of replicas sum to the
    global batch's mean (what `CenterLoss`, a per-sample Keras loss, does by itself).

    Args:
        labels: integer labels `(B,)` or `(B, 1)`, or one-hot / soft labels `(B, C)` (argmax).
        features: float tensor `(B, d)`: the raw (not normalised) feature vectors r_i.
        centers: float tensor `(C, d)`: one centre per class.

    Returns:
        Scalar float32 tensor.

    Raises:
        ValueError: `features` or `centers` not 2-D, or feature sizes that differ.

    Example:

    >>> import numpy as np
    >>> centers = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    >>> features = np.array([[1.0, 0.0], [1.0, 3.0]], "float32")
    >>> float(center_loss(np.array([0, 1]), features, centers))
    2.5

    References:
        - [Wen et al., 2016](https://ydwen.github.io/papers/WenECCV16.pdf)
    """
    return ops.mean(_center_distances(labels, features, centers))


@kerasimb_export("kerasimb.losses.center_update", serializable=False)
def center_update(labels, features, centers, alpha=0.5):
    """Returns the class centres after one step of Wen et al.'s update rule.

    c_j ← c_j − α·Δc_j with Δc_j = Σ_{i: y_i = j} (c_j − r_i) / (1 + n_j), n_j the number of
    batch samples of class j; classes absent from the batch keep their centre. Features are
    treated as constants (no gradient flows through the update).

    Under a `tf.distribute` strategy pass the global batch (`utils.global_batch(labels,
    features)`): n_j and the sums are then those of the whole batch and every replica computes
    the same new centres (`models.TwoStageClassifier` does so).

    Args:
        labels: integer labels `(B,)` / `(B, 1)` or one-hot / soft labels `(B, C)`.
        features: float tensor `(B, d)`.
        centers: float tensor `(C, d)`, the current centres.
        alpha: float in [0, 1]. The centres' learning rate. Defaults to `0.5`.

    Returns:
        Float32 tensor `(C, d)`, the new centres.

    Example:

    >>> import numpy as np
    >>> new = center_update(np.array([0, 0]), np.array([[2.0], [4.0]], "float32"),
    ...                     np.zeros((2, 1), "float32"), alpha=0.5)
    >>> np.asarray(new).ravel().tolist()
    [1.0, 0.0]
    """
    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    labels = integer_labels(labels)
    features = ops.stop_gradient(ops.cast(features, "float32"))
    centers = ops.cast(centers, "float32")
    num_classes = centers.shape[0]
    diff = ops.take(centers, labels, axis=0) - features
    delta = ops.segment_sum(diff, labels, num_segments=num_classes)
    counts = ops.segment_sum(ops.ones_like(labels, "float32"), labels, num_segments=num_classes)
    return centers - alpha * delta / (1.0 + counts)[:, None]


@kerasimb_export("kerasimb.losses.CenterLoss")
class CenterLoss(keras.losses.Loss):
    """Center loss (Wen et al., 2016) as a Keras loss; the centres travel with the predictions.

    Class centres are state that belongs to a model (they are saved with its weights), not to a
    loss, so the loss takes them as part of `y_pred`: call it as
    `loss(labels, (features, centers))`. `models.TwoStageClassifier(metric_loss="center")`
    holds the centres as a model variable and updates them by Wen et al.'s rule
    (`center_update`, α = 0.5) or by its optimiser; see its docstring.

    Per sample the loss is ‖r_i − c_{y_i}‖²; the default reduction (mean over the batch) gives
    `center_loss` (no ½; see `center_loss` for the relation to Wen et al.'s ½ Σ).

    Args:
        name: str. Defaults to `"center_loss"`.
        **kwargs: passed to `keras.losses.Loss` (e.g. `reduction`).

    Call arguments:
        y_true: integer labels `(B,)` / `(B, 1)` or one-hot / soft labels `(B, C)`.
        y_pred: tuple `(features (B, d), centers (C, d))`.

    Example:

    >>> import numpy as np
    >>> loss = CenterLoss()
    >>> centers = np.array([[0.0, 0.0], [1.0, 1.0]], "float32")
    >>> float(loss(np.array([0, 1]), (np.array([[1.0, 0.0], [1.0, 3.0]], "float32"), centers)))
    2.5
    """

    def __init__(self, name="center_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if not (isinstance(y_pred, (tuple, list)) and len(y_pred) == 2):
            raise ValueError(
                "Invalid value received for argument `y_pred`. Expected a tuple (features, "
                f"centers). Received: y_pred of type {type(y_pred).__name__}"
            )
        return super().__call__(y_true, tuple(y_pred), sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        features, centers = y_pred
        return _center_distances(y_true, features, centers)
