"""`AdUni`: an encoder with a projection head and a classifier, trained end to end on two views
with the adaptive unified contrastive loss (Cong et al., MLMI 2022)."""

import copy

import keras
import tensorflow as tf
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.layers.projection_head import ProjectionHead
from kerasimb.losses.unified_contrastive import UnifiedContrastiveLoss
from kerasimb.models.heads import output_shape
from kerasimb.utils.runtime import global_batch, scale_for_replicas, unscale_for_replicas
from kerasimb.utils.validation import check_class_counts, check_float, check_int


@kerasimb_export("kerasimb.models.AdUni")
class AdUni(keras.Model):
    """AdUni (Cong et al., 2022): contrastive feature learning and classifier learning at once.

    An `encoder` maps images to feature vectors h; a 2-layer MLP `ProjectionHead`
    (Dense(hidden) → ReLU → Dense(`projection_dim`) → L2 normalisation) maps h to the features
    f of the contrastive term, and a linear classifier maps h to the logits g. The custom
    `train_step` takes batches `((view1, view2), labels)` (`data.two_view_dataset`), runs the two
    views through the encoder as one batch of 2B (view-major) and minimises the unified loss
    `losses.UnifiedContrastiveLoss` (logit-adjusted class logits and in-batch feature
    similarities in one softmax, α on the feature positives, β on the class positive). α is a
    variable of `unified_loss`; `callbacks.AlphaSchedule` moves it from α_max to α_min.

    Prediction (`call`, `predict`) is the plain logits g of one image: no logit adjustment, no
    projection (argmax of the plain logits, as the authors' code). `test_step` accepts either
    two-view batches or plain `(images, labels)` batches (then both views are the image).

    `queue_size=Q > 0` adds a PaCo-style memory (an option for the PaCo-style baseline; AdUni
    itself uses the batch alone): a ring buffer of the projected features (first view, stored
    without gradient) and labels of the last Q training examples, used as extra keys of the
    loss (`unified_contrastive_loss(queue_features=...)`); the batch is enqueued after its own
    loss, so it never meets itself. PaCo fills its queue from a momentum (MoCo) encoder; here the
    keys come from the model itself at the step they were seen (no momentum encoder), like a
    memory bank. The queue is part of the model's weights (non-trainable), so it is saved with
    it; `test_step` reads it but does not update it.

    The logs show `loss` (the unified loss) and the compiled metrics on the first view's logits.

    **Distribution.** Under a `tf.distribute` strategy (build, compile and fit inside
    `strategy.scope()`; `kerasimb compare --distribute mirrored`) `train_step` runs per replica
    on its slice of the global batch; the unified loss gathers every replica's features, logits
    and labels, so each anchor's softmax runs over the global batch as on one device, and is
    divided by the number of replicas R for the gradient (the optimizer sums the replicas'
    gradients); regularisation losses are divided by R too. The queue (with `queue_size`) is
    filled from the gathered keys: the same update on every replica (its variables have
    `only_first_replica` aggregation). BatchNorm statistics stay per replica (not
    synchronised). The logged `loss` is the global batch's.
    Compile with an optimizer and metrics only (`model.compile("adam", metrics=["accuracy"])`);
    a compiled loss is ignored.

    Args:
        encoder: a `keras.Model` from images to feature vectors `(batch, d)`.
        num_classes: int >= 2.
        class_counts: list of int > 0 (the log prior of the loss) or `None` (no adjustment).
        projection_dim: int >= 1. Defaults to `128`.
        projection_hidden_dim: int >= 1 or `None` (= d, as the authors' head). Defaults to `None`.
        alpha: float >= 0. Initial α. Defaults to `1.0` (α_max).
        beta: float >= 0. Initial β. Defaults to `1.0`.
        temperature: float > 0. Defaults to `0.1`.
        base_temperature: float > 0. Defaults to `0.07`.
        queue_size: int >= 0. Q, the memory queue's length; `0` for none (AdUni).
            Defaults to `0`.
        classifier_dropout: float in [0, 1). Dropout on the pooled features before the
            classifier only (the projection head sees them undropped), as the authors' model
            (`nn.Dropout` then `nn.Linear` in its classifier). Defaults to `0.0` (none).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> import keras, numpy as np
    >>> from kerasimb.data import two_view_dataset
    >>> from kerasimb.models import SmallCNN, feature_extractor
    >>> encoder = feature_extractor(SmallCNN((16, 16, 1), 3, width=4, depth=2))
    >>> model = AdUni(encoder, 3, class_counts=[6, 4, 2], projection_dim=8)
    >>> model.compile("adam", metrics=["accuracy"])
    >>> x = np.random.default_rng(0).random((12, 16, 16, 1)).astype("float32")
    >>> ds = two_view_dataset(x, np.array([0] * 6 + [1] * 4 + [2] * 2), 6, seed=0)
    >>> history = model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
    >>> model.predict(x, verbose=0).shape
    (12, 3)
    """

    def __init__(self, encoder, num_classes, class_counts=None, projection_dim=128,
                 projection_hidden_dim=None, alpha=1.0, beta=1.0, temperature=0.1,
                 base_temperature=0.07, queue_size=0, classifier_dropout=0.0, **kwargs):
        if not isinstance(encoder, keras.Model):
            raise TypeError(
                "Invalid type received for argument `encoder`. Expected a keras.Model mapping "
                f"images to feature vectors. Received: encoder={encoder!r}"
            )
        feature_shape = output_shape(encoder)
        if feature_shape is None or len(feature_shape) != 2 or feature_shape[-1] is None:
            raise ValueError(
                "Invalid value received for argument `encoder`. Expected a model whose output "
                "is a feature vector (batch, features). Received: output shape "
                f"{feature_shape}"
            )
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        if class_counts is not None:
            class_counts = check_class_counts(class_counts, num_classes)
        projection_dim = check_int(projection_dim, "projection_dim", minimum=1)
        if projection_hidden_dim is not None:
            projection_hidden_dim = check_int(projection_hidden_dim, "projection_hidden_dim",
                                              minimum=1)
        alpha = check_float(alpha, "alpha", minimum=0.0)
        beta = check_float(beta, "beta", minimum=0.0)
        queue_size = check_int(queue_size, "queue_size", minimum=0)
        classifier_dropout = check_float(classifier_dropout, "classifier_dropout", minimum=0.0,
                                         maximum=1.0, max_inclusive=False)
        kwargs.setdefault("name", "aduni")
        super().__init__(**kwargs)

        # === Layers ===
        self.encoder = encoder
        self.feature_dim = int(feature_shape[-1])
        self.projection = ProjectionHead(projection_hidden_dim or self.feature_dim,
                                         projection_dim, num_layers=2, name="projection")
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")
        self.dropout = (keras.layers.Dropout(classifier_dropout, name="classifier_dropout")
                        if classifier_dropout else None)
        self.unified_loss = UnifiedContrastiveLoss(
            class_counts, alpha=alpha, beta=beta, temperature=temperature,
            base_temperature=base_temperature, name="aduc")

        # === Config ===
        self.num_classes = num_classes
        self.class_counts = class_counts
        self.projection_dim = projection_dim
        self.projection_hidden_dim = projection_hidden_dim
        self.alpha = alpha
        self.beta = beta
        self.temperature = self.unified_loss.temperature
        self.base_temperature = self.unified_loss.base_temperature
        self.queue_size = queue_size
        self.classifier_dropout = classifier_dropout
        self.build(encoder.input_shape)

    def build(self, input_shape):
        if self.built:
            return
        self.classifier.build((None, self.feature_dim))
        self.projection.build((None, self.feature_dim))
        if self.queue_size:
            # Updated from the global batch, identically on every replica: the first
            # replica's value is written to all of them.
            self.queue = self.add_weight(shape=(self.queue_size, self.projection_dim),
                                         initializer="zeros", trainable=False, name="queue",
                                         aggregation="only_first_replica")
            self.queue_labels = self.add_weight(shape=(self.queue_size,), initializer="zeros",
                                                dtype="int32", trainable=False,
                                                name="queue_labels",
                                                aggregation="only_first_replica")
            # Examples enqueued so far (slots [0, min(count, Q)) hold keys).
            self.queue_count = self.add_weight(shape=(), initializer="zeros", dtype="int32",
                                               trainable=False, name="queue_count",
                                               aggregation="only_first_replica")
        self.built = True

    # --- Forward ---------------------------------------------------------------------------

    def call(self, inputs, training=None):
        if isinstance(inputs, (tuple, list)):
            # A two-view pair (what `fit` passes when it builds the model symbolically under a
            # `tf.distribute` strategy): the first view's logits, as `predict_step`.
            inputs = self._views(inputs)[0]
        return self._logits(self.encoder(inputs, training=training), training)

    def _logits(self, h, training):
        if self.dropout is not None:
            h = self.dropout(h, training=training)
        return self.classifier(h)

    def _views(self, x):
        if isinstance(x, (tuple, list)):
            if len(x) != 2:
                raise ValueError(
                    "Invalid value received for argument `x`. Expected two views (view1, "
                    f"view2) or one batch of images. Received: {len(x)} inputs"
                )
            return x[0], x[1]
        return x, x

    def _forward(self, x, y, training):
        first, second = self._views(x)
        batch = ops.shape(first)[0]
        h = self.encoder(ops.concatenate([first, second], axis=0), training=training)
        logits = self._logits(h, training)
        projected = self.projection(h, training=training)
        features = ops.stack([projected[:batch], projected[batch:]], axis=1)  # (B, 2, d)
        if not self.queue_size:
            loss = self.unified_loss(y, (features, logits))
            return loss, logits[:batch], None
        valid = ops.arange(self.queue_size) < ops.minimum(self.queue_count, self.queue_size)
        loss = self.unified_loss.call_with_queue(y, (features, logits), self.queue,
                                                 self.queue_labels, valid)
        return loss, logits[:batch], ops.stop_gradient(projected[:batch])

    def _enqueue(self, keys, y):
        """Writes the batch's keys and labels into the ring buffer (the newest Q if B > Q).

        Under a strategy the global batch's keys and labels (gathered from every replica).
        """
        keys, y = global_batch(keys, y)
        labels = tf.cast(tf.argmax(y, axis=-1) if len(y.shape) == 2 and y.shape[-1] != 1
                         else tf.reshape(y, (-1,)), "int32")
        keys = tf.cast(keys, self.queue.dtype)[-self.queue_size:]
        labels = labels[-self.queue_size:]
        n = tf.shape(keys)[0]
        slots = tf.math.floormod(self.queue_count + tf.range(n), self.queue_size)[:, None]
        self.queue.assign(tf.tensor_scatter_nd_update(self.queue, slots, keys))
        self.queue_labels.assign(tf.tensor_scatter_nd_update(self.queue_labels, slots, labels))
        self.queue_count.assign_add(n)

    def _update_metrics(self, y, logits, sample_weight, loss):
        loss = unscale_for_replicas(loss)  # the per-replica loss is the global one / R
        for m in self.metrics:
            if m.name == "loss":
                m.update_state(loss)
            else:
                m.update_state(y, logits, sample_weight=sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, logits, keys = self._forward(x, y, training=True)
            if self.losses:
                loss = loss + scale_for_replicas(ops.cast(sum(self.losses), "float32"))
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables) if g is not None])
        if keys is not None:
            self._enqueue(keys, y)
        return self._update_metrics(y, logits, sample_weight, loss)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, logits, _ = self._forward(x, y, training=False)
        return self._update_metrics(y, logits, sample_weight, loss)

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        first, _ = self._views(x)
        return self(first, training=False)

    # --- Config ----------------------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "class_counts": self.class_counts,
            "projection_dim": self.projection_dim,
            "projection_hidden_dim": self.projection_hidden_dim,
            "alpha": self.alpha,
            "beta": self.beta,
            "temperature": self.temperature,
            "base_temperature": self.base_temperature,
            "queue_size": self.queue_size,
            "classifier_dropout": self.classifier_dropout,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)
