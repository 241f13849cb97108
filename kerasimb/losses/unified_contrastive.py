"""Unified contrastive loss of AdUni (Cong et al., MLMI 2022), a PaCo-style loss from the batch.

Feature learning and classifier learning in one softmax: for every anchor (every view of every
sample of the batch), the candidates of the softmax are the C class logits (logit-adjusted by
the log class prior, as in PaCo) *and* the similarities to every other view in the batch; the
positives are the anchor's own class column (weight β) and every other view of the same class
(weight α each, the anchor's other view included). By default no memory queue: only the batch
(AdUni); `queue_features` / `queue_labels` add PaCo-style keys from earlier batches.

The loss is built on the supervised-contrastive core `losses.contrastive_loss_from_logits`
(shared with `losses.supervised_contrastive_loss`): the class logits are extra candidate
columns with positive weight β on the label.

References:
    - Cong et al., "Adaptive Unified Contrastive Learning for Imbalanced Classification", MLMI 2022.
    - Cui et al., "Parametric Contrastive Learning", ICCV 2021 (https://arxiv.org/abs/2107.12028).
"""

import keras
import numpy as np
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.metric_labels import same_label_mask
from kerasimb.losses.supcon import contrastive_loss_from_logits, flatten_views
from kerasimb.utils.runtime import global_batch, replicas_in_sync, scale_for_replicas
from kerasimb.utils.validation import check_class_counts, check_float


def _check_weight(value, name):
    """Validates α / β when given as a Python number; tensors and variables pass unchanged."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return check_float(value, name, minimum=0.0)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected a float >= 0 or a scalar "
            f"tensor / variable. Received: {name}={value!r}"
        )
    return value


def _log_prior(class_counts, num_classes):
    counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    if counts.size != num_classes:
        raise ValueError(
            "Invalid value received for argument `class_counts`. Expected "
            f"{num_classes} entries, one per class of `logits`. Received: {counts.size} entries"
        )
    return np.log(counts / counts.sum()).astype(np.float32)


@kerasimb_export("kerasimb.losses.unified_contrastive_loss", serializable=False)
def unified_contrastive_loss(labels, features, logits, class_counts, alpha, beta=1.0,
                             temperature=0.1, base_temperature=0.07, normalize=True,
                             queue_features=None, queue_labels=None, queue_valid=None):
    """AdUni's unified contrastive loss (Cong et al., 2022): PaCo-style, from the batch alone.

    With V views of B samples there are N = V·B anchors, ordered **view-major** (all first views,
    then all second views, ...), the same order for `features` (flattened from `(B, V, d)`) and
    for the rows of `logits`. For anchor i with label y_i, L2-normalised feature z_i and class
    logits g_i:

        a_ic = g_ic + log(n_c / N)                       (logit adjustment by the class prior)
        s_ik = z_i · z_k / T                             (k ≠ i: every other view in the batch)
        D_i  = Σ_c exp(a_ic) + Σ_{k ≠ i} exp(s_ik)       (one shared denominator)
        loss_i = −(T / T_base) · [β log(exp(a_{i,y_i}) / D_i) + α Σ_{p ∈ P(i)} log(exp(s_ip) / D_i)]
                                 / (β + α |P(i)|)

    with P(i) the other views of the same class (the anchor's own other view included). The
    batch loss is the mean of loss_i over the anchors. The class logits are not divided by T
    (PaCo's `supt = 1`). An anchor always has a positive (its class column, and its other view),
    so a class present once in the batch is no special case; with α = β = 0 the loss is 0.

    With α = 0 the feature term drops out of the numerator (not of the denominator): the loss is
    a logit-adjusted ("balanced softmax") cross-entropy whose softmax also runs over the
    similarities to the rest of the batch,

        loss_i = (T / T_base) · β · [log D_i − a_{i,y_i}]

    (β cancels in the normalisation, so any β > 0 gives the same value). It is always larger
    than the plain logit-adjusted cross-entropy `(T / T_base)·(logsumexp_c a_ic − a_{i,y_i})`.

    Follows the authors' public code where the paper leaves details implicit: the log-prior
    adjustment inside the loss, β = 1 on the one-hot label, α on every same-class sample, both
    views as anchors, the scale T / T_base with T_base = 0.07.

    Optional queue (PaCo-style, not AdUni): with `queue_features` q_1..q_Q (labels u_k) the
    similarities s_ik = z_i · q_k / T join every anchor's denominator D_i, and the queued keys of
    the anchor's class join P(i) with weight α each (entries with `queue_valid` 0 are left out,
    e.g. the unfilled slots of a ring buffer). Queued keys carry no gradient of their own when
    they are stored detached (`models.AdUni(queue_size=...)` does so).

    The function computes on exactly the batch it is given: called per replica under a
    `tf.distribute` strategy it sees only that replica's slice. `UnifiedContrastiveLoss` (and so
    `models.AdUni`) gathers the global batch first.

    Args:
        labels: integer labels `(B,)` / `(B, 1)` or one-hot `(B, C)` (argmax).
        features: float tensor `(B, V, d)`, normally L2-normalised projections (V = 2 views).
        logits: float tensor `(V·B, C)`: the classifier's plain logits, rows view-major like
            the features (`concat([logits_view1, logits_view2])`).
        class_counts: list of int > 0, training examples per class (for the log prior), or
            `None` for no logit adjustment.
        alpha: float >= 0 or a scalar tensor / variable. Weight of the feature positives.
        beta: float >= 0 or a scalar tensor / variable. Weight of the class positive.
            Defaults to `1.0`.
        temperature: float > 0. T. Defaults to `0.1` (Cong et al.).
        base_temperature: float > 0. T_base of the scale T / T_base. Defaults to `0.07`.
        normalize: bool. L2-normalise the features first (a no-op on normalised features).
            Defaults to `True`.
        queue_features: `None` or float tensor `(Q, d)`: extra keys (e.g. earlier batches).
            Defaults to `None`.
        queue_labels: integer labels `(Q,)` of the queued keys; required with
            `queue_features`. Defaults to `None`.
        queue_valid: `None` (all valid) or `(Q,)` 0/1 (or bool) mask of the keys to use.
            Defaults to `None`.

    Returns:
        Scalar float32 tensor.

    Raises:
        ValueError: features not `(B, V, d)`, logits not `(V·B, C)`, class counts that do not
            match the logits, or out-of-range hyperparameters.

    Example:

    >>> import numpy as np
    >>> features = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], "float32")
    >>> logits = np.zeros((4, 2), "float32")
    >>> loss = unified_contrastive_loss([0, 1], features, logits, None, alpha=0.0,
    ...                                 temperature=1.0, base_temperature=1.0)
    >>> round(float(loss), 4)   # log(2 + e + 2) - 0: CE with the batch in the denominator
    1.9048
    """
    temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)
    base_temperature = check_float(base_temperature, "base_temperature", minimum=0.0,
                                   min_inclusive=False)
    alpha = _check_weight(alpha, "alpha")
    beta = _check_weight(beta, "beta")
    features = ops.convert_to_tensor(features)
    if len(features.shape) != 3:
        raise ValueError(
            "Invalid value received for argument `features`. Expected a tensor of shape "
            f"(batch, views, feature_dim). Received: shape {tuple(features.shape)}"
        )
    flat_labels, flat = flatten_views(labels, features)
    logits = ops.cast(ops.convert_to_tensor(logits), "float32")
    if len(logits.shape) != 2 or logits.shape[-1] is None:
        raise ValueError(
            "Invalid value received for argument `logits`. Expected a tensor of shape "
            f"(views * batch, num_classes). Received: shape {tuple(logits.shape)}"
        )
    rows, expected = logits.shape[0], flat.shape[0]
    if rows is not None and expected is not None and rows != expected:
        raise ValueError(
            "Invalid value received for argument `logits`. Expected views * batch = "
            f"{expected} rows (view-major, like `features`). Received: {rows} rows"
        )
    num_classes = int(logits.shape[-1])
    if normalize:
        flat = flat / ops.maximum(ops.sqrt(ops.sum(ops.square(flat), axis=-1, keepdims=True)),
                                  1e-12)
    if class_counts is not None:
        logits = logits + ops.convert_to_tensor(_log_prior(class_counts, num_classes))[None, :]
    alpha = ops.cast(alpha, "float32")
    beta = ops.cast(beta, "float32")

    n = ops.shape(flat_labels)[0]
    not_self = 1.0 - ops.eye(n, dtype="float32")
    similarity = ops.matmul(flat, ops.transpose(flat)) / temperature
    one_hot = ops.one_hot(flat_labels, num_classes, dtype="float32")
    all_logits = ops.concatenate([logits, similarity], axis=1)
    candidates = ops.concatenate([ops.ones_like(one_hot), not_self], axis=1)
    positives = ops.concatenate(
        [beta * one_hot, alpha * same_label_mask(flat_labels, flat_labels) * not_self], axis=1)
    if queue_features is not None:
        keys, key_labels, valid = _queue(queue_features, queue_labels, queue_valid,
                                         int(flat.shape[-1]), normalize)
        all_logits = ops.concatenate(
            [all_logits, ops.matmul(flat, ops.transpose(keys)) / temperature], axis=1)
        candidates = ops.concatenate(
            [candidates, ops.ones_like(all_logits[:, :1]) * valid[None, :]], axis=1)
        positives = ops.concatenate(
            [positives, alpha * same_label_mask(flat_labels, ops.cast(key_labels, flat_labels.dtype))
             * valid[None, :]],
            axis=1)
    loss, has_positive = contrastive_loss_from_logits(all_logits, positives, candidates)
    scale = temperature / base_temperature
    return scale * ops.sum(loss) / ops.maximum(ops.sum(has_positive), 1.0)


def _global_views(labels, features, logits):
    """All-gathers `(labels (b, ...), features (b, V, d), logits (V·b, C))` across replicas.

    Logit rows are view-major per replica; they are regrouped per sample before the gather and
    made view-major again after it. Unchanged outside a step of more than one replica.
    """
    if replicas_in_sync() == 1:
        return labels, features, logits
    features = ops.convert_to_tensor(features)
    logits = ops.convert_to_tensor(logits)
    views, classes = features.shape[1], logits.shape[-1]
    per_sample = ops.transpose(ops.reshape(logits, (views, -1, classes)), (1, 0, 2))
    labels, features, per_sample = global_batch(labels, features, per_sample)
    logits = ops.reshape(ops.transpose(per_sample, (1, 0, 2)), (-1, classes))
    return labels, features, logits


def _queue(features, labels, valid, dim, normalize):
    """Checks and converts the queue arguments; returns `(keys (Q, d), labels (Q,), valid)`."""
    keys = ops.cast(ops.convert_to_tensor(features), "float32")
    if len(keys.shape) != 2 or (keys.shape[-1] is not None and keys.shape[-1] != dim):
        raise ValueError(
            "Invalid value received for argument `queue_features`. Expected a tensor of shape "
            f"(queue_size, {dim}). Received: shape {tuple(keys.shape)}"
        )
    if labels is None:
        raise ValueError(
            "Invalid value received for argument `queue_labels`. Expected integer labels "
            "(queue_size,) with `queue_features`. Received: queue_labels=None"
        )
    labels = ops.reshape(ops.cast(ops.convert_to_tensor(labels), "int32"), (-1,))
    if labels.shape[0] is not None and keys.shape[0] is not None and labels.shape[0] != keys.shape[0]:
        raise ValueError(
            "Invalid value received for argument `queue_labels`. Expected "
            f"{keys.shape[0]} labels, one per queued key. Received: {labels.shape[0]} labels"
        )
    if normalize:
        keys = keys / ops.maximum(ops.sqrt(ops.sum(ops.square(keys), axis=-1, keepdims=True)),
                                  1e-12)
    valid = (ops.ones_like(keys[:, 0]) if valid is None
             else ops.reshape(ops.cast(ops.convert_to_tensor(valid), "float32"), (-1,)))
    return keys, labels, valid


@kerasimb_export("kerasimb.losses.UnifiedContrastiveLoss")
class UnifiedContrastiveLoss(keras.losses.Loss):
    """AdUni's unified contrastive loss (Cong et al., 2022); see `unified_contrastive_loss`.

    α and β live in non-trainable float32 `keras.Variable`s: `set_alpha` / `set_beta` (what
    `callbacks.AlphaSchedule` calls) take effect at the next step of a compiled train step
    without recompiling. `get_config` stores the initial values.

    The loss needs two model outputs, so `y_pred` is the pair `(features (B, V, d), logits
    (V·B, C))`: call it as `loss(labels, (features, logits))` (`models.AdUni` does so in its
    train step). `sample_weight` is not supported (one value per batch).

    **Distribution.** Inside a step of R > 1 replicas of a `tf.distribute` strategy the loss
    all-gathers the labels, features and logits of every replica (`utils.global_batch`; the
    view-major logit rows are regrouped so that the global batch is view-major again), so every
    anchor's softmax runs over the whole global batch, as on one device, and returns the value
    divided by R (Keras' convention: the optimizer sums the replicas' gradients). Outside such a
    step it is the loss of the batch it is given.

    Args:
        class_counts: list of int > 0 or `None` (no logit adjustment).
        alpha: float >= 0. Initial weight of the feature positives. Defaults to `1.0`.
        beta: float >= 0. Initial weight of the class positive. Defaults to `1.0`.
        temperature: float > 0. Defaults to `0.1`.
        base_temperature: float > 0. Defaults to `0.07`.
        normalize: bool. Defaults to `True`.
        name: str. Defaults to `"unified_contrastive_loss"`.
        **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> loss = UnifiedContrastiveLoss(None, alpha=0.0, temperature=1.0, base_temperature=1.0)
    >>> features = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]], "float32")
    >>> round(float(loss(np.array([0, 1]), (features, np.zeros((4, 2), "float32")))), 4)
    1.9048
    >>> loss.set_alpha(0.5); loss.alpha
    0.5
    """

    def __init__(self, class_counts=None, alpha=1.0, beta=1.0, temperature=0.1,
                 base_temperature=0.07, normalize=True, name="unified_contrastive_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_counts = None if class_counts is None else check_class_counts(class_counts)
        self.temperature = check_float(temperature, "temperature", minimum=0.0,
                                       min_inclusive=False)
        self.base_temperature = check_float(base_temperature, "base_temperature", minimum=0.0,
                                            min_inclusive=False)
        self.normalize = bool(normalize)
        self.initial_alpha = check_float(alpha, "alpha", minimum=0.0)
        self.initial_beta = check_float(beta, "beta", minimum=0.0)
        self._alpha = keras.Variable(self.initial_alpha, trainable=False, dtype="float32",
                                     name=f"{name}_alpha")
        self._beta = keras.Variable(self.initial_beta, trainable=False, dtype="float32",
                                    name=f"{name}_beta")

    @property
    def alpha(self):
        """The current α (a float)."""
        return float(ops.convert_to_numpy(self._alpha))

    @property
    def beta(self):
        """The current β (a float)."""
        return float(ops.convert_to_numpy(self._beta))

    def set_alpha(self, value):
        """Assigns α (float >= 0); the next training step uses it without recompiling."""
        self._alpha.assign(check_float(value, "alpha", minimum=0.0))

    def set_beta(self, value):
        """Assigns β (float >= 0); the next training step uses it without recompiling."""
        self._beta.assign(check_float(value, "beta", minimum=0.0))

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(
                "Invalid value received for argument `sample_weight`. Expected `None`: the "
                "unified contrastive loss is one value per batch. Received: a sample_weight "
                "tensor"
            )
        if not isinstance(y_pred, (tuple, list)) or len(y_pred) != 2:
            raise ValueError(
                "Invalid value received for argument `y_pred`. Expected a pair (features "
                f"(B, V, d), logits (V*B, C)). Received: y_pred of type {type(y_pred).__name__}"
            )
        return self.call(y_true, y_pred)

    def call(self, y_true, y_pred):
        y_true, features, logits = _global_views(y_true, *y_pred)
        return scale_for_replicas(unified_contrastive_loss(
            y_true, features, logits, self.class_counts, self._alpha, self._beta,
            self.temperature, self.base_temperature, self.normalize))

    def call_with_queue(self, y_true, y_pred, queue_features, queue_labels, queue_valid=None):
        """The loss with extra queued keys (see `unified_contrastive_loss`'s `queue_*`)."""
        y_true, features, logits = _global_views(y_true, *y_pred)
        return scale_for_replicas(unified_contrastive_loss(
            y_true, features, logits, self.class_counts, self._alpha, self._beta,
            self.temperature, self.base_temperature, self.normalize,
            queue_features=queue_features, queue_labels=queue_labels, queue_valid=queue_valid))

    def get_config(self):
        return {**super().get_config(), "class_counts": self.class_counts,
                "alpha": self.initial_alpha, "beta": self.initial_beta,
                "temperature": self.temperature, "base_temperature": self.base_temperature,
                "normalize": self.normalize}
