"""Supervised contrastive loss (Khosla et al., NeurIPS 2020) and its reusable core.

The core, `contrastive_loss_from_logits`, works on any anchor-by-candidate logit matrix with a
mask of candidates (the softmax denominator) and a matrix of positive weights. SupCon fills it
with in-batch feature similarities; a PaCo-style unified loss (Cui et al., 2021; AdUni) extends
it by concatenating class-centre logits to the similarity columns, marking them as candidates
and giving the anchor's own class column a positive weight:

    logits     = [class_logits (N, C) | similarity / T (N, N)]
    candidates = [ones (N, C)         | 1 - eye(N)]
    positives  = [w_c * one_hot(y)    | w_f * same_class - diag]

so that one function computes both losses.
"""

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.common import check_batch_sizes
from kerasimb.losses.metric_labels import integer_labels, same_label_mask
from kerasimb.utils.runtime import global_batch, scale_for_replicas
from kerasimb.utils.validation import check_float


@kerasimb_export("kerasimb.losses.contrastive_loss_from_logits", serializable=False)
def contrastive_loss_from_logits(logits, positive_weights, candidate_mask):
    """Per-anchor contrastive loss: minus the weighted mean log-probability of the positives.

    For anchor i, with candidates K(i) = {k : candidate_mask[i, k] = 1}:

        log p_ij = logits_ij − log Σ_{k ∈ K(i)} exp(logits_ik)
        loss_i   = − Σ_j w_ij log p_ij / Σ_j w_ij

    Anchors whose positive weights sum to 0 (no positive) get loss 0 and `has_positive = 0`;
    they never produce NaN. The row maximum over candidates is subtracted (without gradient)
    before the exponential for stability. Computed in float32.

    This is the building block of `supervised_contrastive_loss` and of PaCo-style losses (see the
    module docstring): pass class logits as extra columns, mark them as candidates and give
    them positive weights.

    Args:
        logits: float tensor `(N, M)`: anchor-by-candidate logits (e.g. similarity / T).
        positive_weights: float tensor `(N, M)` >= 0; nonzero only on candidates.
        candidate_mask: float or bool tensor `(N, M)`; 1 for the columns in anchor i's softmax
            denominator (e.g. everything but the anchor itself).

    Returns:
        Tuple `(loss (N,), has_positive (N,))` of float32 tensors.

    Example:

    >>> import numpy as np
    >>> logits = np.log(np.array([[1.0, 3.0]], "float32"))
    >>> loss, has = contrastive_loss_from_logits(logits, np.array([[0.0, 1.0]]), np.ones((1, 2)))
    >>> round(float(loss[0]), 4), float(has[0])
    (0.2877, 1.0)
    """
    logits = ops.cast(logits, "float32")
    weights = ops.cast(positive_weights, "float32")
    candidates = ops.cast(candidate_mask, "float32")
    masked = ops.where(candidates > 0, logits, -1e30)
    row_max = ops.stop_gradient(ops.max(masked, axis=1, keepdims=True))
    shifted = logits - row_max
    exp = ops.exp(ops.where(candidates > 0, shifted, -1e30)) * candidates
    log_denominator = ops.log(ops.maximum(ops.sum(exp, axis=1, keepdims=True), 1e-30))
    log_prob = shifted - log_denominator
    weight_sum = ops.sum(weights, axis=1)
    has_positive = ops.cast(weight_sum > 0, "float32")
    weighted = ops.sum(ops.where(weights > 0, weights * log_prob, 0.0), axis=1)
    loss = -weighted / ops.maximum(weight_sum, 1e-12) * has_positive
    return loss, has_positive


def flatten_views(labels, features):
    """Returns `(labels (B*V,), features (B*V, d))` from features `(B, d)` or `(B, V, d)`.

    View-major order, as Khosla et al.: every sample's first view, then every second view, ...;
    the labels are repeated to match. Features are cast to float32.

    Example:

    >>> labels, flat = flatten_views([0, 1], [[[1.0], [2.0]], [[3.0], [4.0]]])
    >>> ops.convert_to_numpy(labels).tolist(), ops.convert_to_numpy(flat)[:, 0].tolist()
    ([0, 1, 0, 1], [1.0, 3.0, 2.0, 4.0])
    """
    check_batch_sizes(labels, features, "labels", "features")
    features = ops.cast(features, "float32")
    if len(features.shape) == 2:
        features = features[:, None, :]
    if len(features.shape) != 3:
        raise ValueError(
            "Invalid value received for argument `features`. Expected a tensor of shape "
            f"(batch, feature_dim) or (batch, views, feature_dim). Received: shape "
            f"{tuple(features.shape)}"
        )
    labels = integer_labels(labels)
    views = features.shape[1]
    # View-major order, as Khosla et al.: all first views, then all second views, ...
    flat = ops.reshape(ops.transpose(features, (1, 0, 2)), (-1, features.shape[-1]))
    return ops.tile(labels, (views,)), flat


@kerasimb_export("kerasimb.losses.supervised_contrastive_loss", serializable=False)
def supervised_contrastive_loss(labels, features, temperature=0.05, base_temperature=None,
                                normalize=True):
    """Supervised contrastive loss (Khosla et al., 2020), "L_out" form, averaged over anchors.

    Every view of every sample is an anchor; its positives are all other views of samples of the
    same class (the other views of itself included), its candidates everything but itself:

        loss_i = −(T / T_base) · (1/|P(i)|) Σ_{p ∈ P(i)} log( exp(z_i·z_p / T) / Σ_{k ≠ i} exp(z_i·z_k / T) )

    with z the L2-normalised features. The batch loss is the mean over anchors that have at least
    one positive; an anchor without a positive (a class with one sample and one view) contributes
    nothing, and a batch with no positive pair gives 0. (Khosla et al.'s reference code divides
    by |P(i)| = 0 for such anchors and returns NaN.)

    The function computes on exactly the batch it is given: called per replica under a
    `tf.distribute` strategy it sees only that replica's slice. `SupConLoss` and
    `models.TwoStageClassifier` gather the global batch first (see their docstrings).

    Args:
        labels: integer labels `(B,)` / `(B, 1)` or one-hot / soft labels `(B, C)` (argmax).
        features: float tensor `(B, d)` (one view) or `(B, V, d)` (V views).
        temperature: float > 0. T. Defaults to `0.05` (Zeng et al.).
        base_temperature: float > 0 or `None` (= `temperature`, so the scale T / T_base is 1).
            Khosla et al.'s code uses 0.07. Defaults to `None`.
        normalize: bool. L2-normalise the features first. Defaults to `True`.

    Returns:
        Scalar float32 tensor.

    Example:

    >>> import numpy as np
    >>> features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], "float32")
    >>> round(float(supervised_contrastive_loss(np.array([0, 0, 1]), features, 1.0)), 4)
    0.3133

    References:
        - [Khosla et al., 2020](https://arxiv.org/abs/2004.11362)
    """
    temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)
    scale = 1.0
    if base_temperature is not None:
        base_temperature = check_float(base_temperature, "base_temperature", minimum=0.0,
                                       min_inclusive=False)
        scale = temperature / base_temperature
    labels, features = flatten_views(labels, features)
    if normalize:
        features = features / ops.maximum(
            ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True)), 1e-12
        )
    logits = ops.matmul(features, ops.transpose(features)) / temperature
    candidates = 1.0 - ops.eye(ops.shape(labels)[0], dtype="float32")
    positives = same_label_mask(labels, labels) * candidates
    loss, has_positive = contrastive_loss_from_logits(logits, positives, candidates)
    return scale * ops.sum(loss) / ops.maximum(ops.sum(has_positive), 1.0)


@kerasimb_export("kerasimb.losses.SupConLoss")
class SupConLoss(keras.losses.Loss):
    """Supervised contrastive loss (Khosla et al., 2020); see `supervised_contrastive_loss`.

    `y_pred` is the projection `(B, d)` or `(B, V, d)` (e.g. the output of
    `layers.ProjectionHead`), not logits; it is L2-normalised inside unless `normalize=False`.
    The loss is one value per batch, so `sample_weight` is not supported.

    **Distribution.** Like Keras' own losses, the loss is correct as a compiled loss under a
    `tf.distribute` strategy: inside a step of R > 1 replicas it all-gathers the labels and
    projections of every replica (`utils.global_batch`), computes the loss of the **global**
    batch (every pair across replicas) and returns it divided by R (the optimizer sums the
    replicas' gradients and Keras' loss tracker multiplies by R again). Outside such a step it
    is the loss of the batch it is given.

    Args:
        temperature: float > 0. Defaults to `0.05` (Zeng et al.).
        base_temperature: float > 0 or `None` (= `temperature`). Defaults to `None`.
        normalize: bool. Defaults to `True`.
        name: str. Defaults to `"supcon_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = SupConLoss(temperature=1.0)
    >>> features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], "float32")
    >>> round(float(loss(np.array([0, 0, 1]), features)), 4)
    0.3133
    """

    def __init__(self, temperature=0.05, base_temperature=None, normalize=True,
                 name="supcon_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = check_float(temperature, "temperature", minimum=0.0,
                                       min_inclusive=False)
        self.base_temperature = None if base_temperature is None else check_float(
            base_temperature, "base_temperature", minimum=0.0, min_inclusive=False)
        self.normalize = bool(normalize)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Invalid value received for argument `sample_weight`. Expected `None`: the "
                "supervised contrastive loss is one value per batch. Received: a sample_weight "
                "tensor"
            )
        return super().__call__(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, y_pred = global_batch(y_true, y_pred)
        return scale_for_replicas(supervised_contrastive_loss(
            y_true, y_pred, self.temperature, self.base_temperature, self.normalize))

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature,
                "base_temperature": self.base_temperature, "normalize": self.normalize}
