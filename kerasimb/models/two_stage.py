"""`TwoStageClassifier`: metric-learning representation (stage 1), re-balanced head (stage 2).

Zeng et al., "Learning Discriminative Representation via Metric Learning for Imbalanced Medical
Image Classification" (2022): stage 1 trains the feature extractor and a linear head with
L = L_CE + λ·L_M, where L_M is a metric-learning loss on the features (center, triplet or
supervised contrastive); stage 2 freezes the feature extractor and fine-tunes only the linear
head with class re-weighting (cRW) or class-balanced re-sampling (cRS).
"""

import copy

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.data.pipeline import steps_per_epoch
from kerasimb.layers.cosine_classifier import CosineClassifier
from kerasimb.layers.projection_head import ProjectionHead
from kerasimb.losses.center import center_loss
from kerasimb.losses.center import center_update as wen_center_update
from kerasimb.losses.supcon import supervised_contrastive_loss
from kerasimb.losses.triplet import triplet_loss
from kerasimb.losses.weights import class_weights
from kerasimb.models.heads import output_shape
from kerasimb.utils.images import to_float_images
from kerasimb.utils.runtime import global_batch, scale_for_replicas, unscale_for_replicas
from kerasimb.utils.validation import (
    check_choice,
    check_class_counts,
    check_float,
    check_images_labels,
    check_int,
)

METRIC_LOSSES = ("center", "triplet", "supcon")

# Zeng et al.'s coefficients λ of the metric loss.
DEFAULT_METRIC_WEIGHTS = {"center": 0.001, "triplet": 0.001, "supcon": 1.0}


def _as_int_labels(y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(np.int64)
    return y.reshape(-1).astype(np.int64)


@kerasimb_export("kerasimb.models.TwoStageClassifier")
class TwoStageClassifier(keras.Model):
    """A feature extractor and a linear head trained in two stages (Zeng et al., 2022).

    **Stage 1** is an ordinary `compile` + `fit` on `(images, labels)`: the custom `train_step`
    minimises `ce_weight · L_CE + metric_weight · L_M`, where L_CE is the compiled loss on the
    logits (e.g. `keras.losses.CategoricalCrossentropy(from_logits=True)`) and L_M is computed
    on the backbone's features:

    - `"center"`: `losses.center_loss` (mean ‖r_i − c_{y_i}‖², no ½) on the raw features. The
      class centres are a model variable `centers` `(num_classes, d)` (saved with the weights),
      initialised at 0 and updated, by default, by Wen et al.'s rule after every step
      (`losses.center_update`, α = `center_alpha` = 0.5; the centres get no gradient), or, with
      `center_update="gradient"`, trained by the model's optimiser like any other weight.
    - `"triplet"`: `losses.triplet_loss` (margin 50, batch-hard mining) on the raw features.
    - `"supcon"`: `losses.supervised_contrastive_loss` (T = 0.05) on the L2-normalised output
      of a 3-layer `layers.ProjectionHead` (512-512-128) on the features; the projection is
      only used by the loss, never for prediction.
    - `None`: plain cross-entropy (the CE → cRW / cRS baselines).

    The logs show `loss` (the total), `ce_loss` and `metric_loss` (L_M before weighting).

    **Distribution.** Under a `tf.distribute` strategy (build, compile and fit inside
    `strategy.scope()`; `kerasimb compare --distribute mirrored`) `fit` runs `train_step` once
    per replica on its slice of the global batch. The cross-entropy is the replica's mean
    divided by the number of replicas R (Keras' compiled-loss convention; the optimizer sums the
    replicas' gradients); the metric loss is computed on the **global** batch (features and
    labels all-gathered from every replica) and divided by R; Wen's centre update uses the
    global batch's per-class sums and is the same on every replica (the centres are a variable
    with `only_first_replica` aggregation). So one step equals one step on one device with the
    global batch, up to float rounding, except for what is per replica by nature: BatchNorm
    statistics (not synchronised across replicas) and dropout masks. The logs are the global
    batch's values.

    **Stage 2**, `retrain_classifier(x, y, method=...)`, freezes the feature extractor and
    fine-tunes only the linear head (see its docstring).

    The model outputs logits (float32) and is called like any Keras classifier.

    Args:
        backbone: a `keras.Model` from images to feature vectors `(batch, d)`, e.g.
            `models.build_backbone(...)` or `models.feature_extractor(SmallCNN(...))`.
        num_classes: int >= 2.
        metric_loss: `"center"`, `"triplet"`, `"supcon"` or `None`. Defaults to `None`.
        metric_weight: float >= 0 or `None` (Zeng et al.'s λ: 0.001 for center and triplet,
            1.0 for supcon). Defaults to `None`.
        ce_weight: float >= 0. Weight of the cross-entropy in stage 1; `0` trains the features
            with the metric loss alone (the "SC → cRW" ablation). Defaults to `1.0`.
        dropout: float in [0, 1). Dropout on the features before the head. Defaults to `0.0`.
        center_update: `"wen"` or `"gradient"`. Defaults to `"wen"`.
        center_alpha: float in [0, 1]. α of Wen et al.'s rule. Defaults to `0.5`.
        triplet_margin: float >= 0. Defaults to `50.0`.
        triplet_mining: `"batch_hard"` or `"batch_all"`. Defaults to `"batch_hard"`.
        triplet_distance: `"euclidean"` or `"squared"`. Defaults to `"euclidean"`.
        temperature: float > 0. SupCon temperature. Defaults to `0.05`.
        base_temperature: float > 0 or `None` (= `temperature`). Defaults to `None`.
        projection_hidden_dim: int >= 1. Defaults to `512`.
        projection_dim: int >= 1. Defaults to `128`.
        head: `"linear"` (a `Dense` layer with bias) or `"cosine"` (a `layers.CosineClassifier`
            whose logits are `head_scale` · cosine, the head LDAM trains; see
            `methods.two_stage`'s `stage1_method="ldam"`). Defaults to `"linear"`.
        head_scale: float > 0. The cosine head's logit scale. Defaults to `30.0`.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> import keras, numpy as np
    >>> from kerasimb.models import SmallCNN, feature_extractor
    >>> backbone = feature_extractor(SmallCNN((16, 16, 1), 3, width=4, depth=2))
    >>> model = TwoStageClassifier(backbone, 3, metric_loss="center")
    >>> model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    >>> x = np.random.default_rng(0).random((12, 16, 16, 1)).astype("float32")
    >>> y = keras.utils.to_categorical(np.arange(12) % 3, 3)
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['ce_loss', 'loss', 'metric_loss']
    >>> history = model.retrain_classifier(x, np.arange(12) % 3, method="resample", epochs=1)
    >>> model.predict(x, verbose=0).shape
    (12, 3)
    """

    def __init__(
        self,
        backbone,
        num_classes,
        metric_loss=None,
        metric_weight=None,
        ce_weight=1.0,
        dropout=0.0,
        center_update="wen",
        center_alpha=0.5,
        triplet_margin=50.0,
        triplet_mining="batch_hard",
        triplet_distance="euclidean",
        temperature=0.05,
        base_temperature=None,
        projection_hidden_dim=512,
        projection_dim=128,
        head="linear",
        head_scale=30.0,
        **kwargs,
    ):
        if not isinstance(backbone, keras.Model):
            raise TypeError(
                "Invalid type received for argument `backbone`. Expected a keras.Model mapping "
                f"images to feature vectors. Received: backbone={backbone!r}"
            )
        feature_shape = output_shape(backbone)
        if feature_shape is None or len(feature_shape) != 2 or feature_shape[-1] is None:
            raise ValueError(
                "Invalid value received for argument `backbone`. Expected a model whose output "
                "is a feature vector (batch, features), e.g. build_backbone(..., pooling='avg'). "
                f"Received: output shape {feature_shape}"
            )
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        check_choice(metric_loss, "metric_loss", (*METRIC_LOSSES, None))
        if metric_weight is None:
            metric_weight = DEFAULT_METRIC_WEIGHTS.get(metric_loss, 0.0)
        metric_weight = check_float(metric_weight, "metric_weight", minimum=0.0)
        ce_weight = check_float(ce_weight, "ce_weight", minimum=0.0)
        dropout = check_float(dropout, "dropout", 0.0, 1.0, max_inclusive=False)
        check_choice(center_update, "center_update", ("wen", "gradient"))
        center_alpha = check_float(center_alpha, "center_alpha", 0.0, 1.0)
        triplet_margin = check_float(triplet_margin, "triplet_margin", minimum=0.0)
        check_choice(triplet_mining, "triplet_mining", ("batch_hard", "batch_all"))
        check_choice(triplet_distance, "triplet_distance", ("euclidean", "squared"))
        temperature = check_float(temperature, "temperature", minimum=0.0, min_inclusive=False)
        if base_temperature is not None:
            base_temperature = check_float(base_temperature, "base_temperature", minimum=0.0,
                                           min_inclusive=False)
        projection_hidden_dim = check_int(projection_hidden_dim, "projection_hidden_dim", minimum=1)
        projection_dim = check_int(projection_dim, "projection_dim", minimum=1)
        check_choice(head, "head", ("linear", "cosine"))
        head_scale = check_float(head_scale, "head_scale", minimum=0.0, min_inclusive=False)
        kwargs.setdefault("name", "two_stage_classifier")
        super().__init__(**kwargs)

        # === Layers ===
        self.backbone = backbone
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        if head == "cosine":
            self.classifier = CosineClassifier(num_classes, scale=head_scale, dtype="float32",
                                               name="logits")
        else:
            self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")
        self.projection = None
        if metric_loss == "supcon":
            self.projection = ProjectionHead(projection_hidden_dim, projection_dim,
                                             name="projection")
        self.ce_tracker = keras.metrics.Mean(name="ce_loss")
        self.metric_tracker = keras.metrics.Mean(name="metric_loss")

        # === Config ===
        self.num_classes = num_classes
        self.metric_loss = metric_loss
        self.metric_weight = metric_weight
        self.ce_weight = ce_weight
        self.dropout = dropout
        self.center_update = center_update
        self.center_alpha = center_alpha
        self.triplet_margin = triplet_margin
        self.triplet_mining = triplet_mining
        self.triplet_distance = triplet_distance
        self.temperature = temperature
        self.base_temperature = base_temperature
        self.projection_hidden_dim = projection_hidden_dim
        self.projection_dim = projection_dim
        self.head = head
        self.head_scale = head_scale
        self.feature_dim = int(feature_shape[-1])
        self.centers = None
        self.build(backbone.input_shape)

    def build(self, input_shape):
        if self.built:
            return
        self.classifier.build((None, self.feature_dim))
        if self.projection is not None:
            self.projection.build((None, self.feature_dim))
        if self.metric_loss == "center":
            self.centers = self.add_weight(
                shape=(self.num_classes, self.feature_dim),
                initializer="zeros",
                trainable=self.center_update == "gradient",
                dtype="float32",
                # Wen's update is computed from the global batch, identically on every
                # replica; the first replica's value is written to all of them.
                aggregation="only_first_replica" if self.center_update == "wen" else "none",
                name="centers",
            )
        self.built = True

    # --- Forward ---------------------------------------------------------------------------

    def call(self, inputs, training=None):
        features = self.backbone(inputs, training=training)
        return self.classifier(self.head_dropout(features, training=training))

    def _metric_value(self, labels, features, training):
        """L_M of the global batch (float32 scalar; 0 without a metric loss), plus the
        gathered labels and (raw or projected) features it was computed on.

        Under a `tf.distribute` strategy the replicas' features and labels are all-gathered
        first (`utils.global_batch`), so every replica computes the loss of the whole global
        batch, exactly as one device would (batch-hard triplets and SupCon pairs are mined
        across replicas); without a strategy the batch is used as it is.
        """
        if self.metric_loss is None:
            return ops.zeros((), "float32"), labels, features
        embedded = features
        if self.metric_loss == "supcon":
            embedded = self.projection(features, training=training)
        labels, embedded = global_batch(labels, embedded)
        if self.metric_loss == "center":
            value = center_loss(labels, embedded, self.centers)
        elif self.metric_loss == "triplet":
            value = triplet_loss(labels, embedded, self.triplet_margin, self.triplet_mining,
                                 self.triplet_distance)
        else:
            value = supervised_contrastive_loss(labels, embedded, self.temperature,
                                                self.base_temperature)
        return value, labels, embedded

    def _step_losses(self, x, y, sample_weight, training):
        """`(logits, loss to differentiate, total, ce, metric)` of a (per-replica) batch.

        `compute_loss` returns the replica's mean cross-entropy divided by the number of
        replicas R (Keras' convention: the optimizer sums the replicas' gradients) and the
        metric loss, the same global-batch value on every replica, is divided by R too, so the
        summed gradients are those of the global batch. `total`, `ce` and `metric` are the
        unscaled values that the logs show.
        """
        features = self.backbone(x, training=training)
        logits = self.classifier(self.head_dropout(features, training=training))
        ce = ops.cast(self.compute_loss(x=x, y=y, y_pred=logits, sample_weight=sample_weight,
                                        training=training), "float32")
        metric, labels, embedded = self._metric_value(y, features, training=training)
        loss = self.ce_weight * ce + self.metric_weight * scale_for_replicas(metric)
        ce = unscale_for_replicas(ce)
        total = self.ce_weight * ce + self.metric_weight * metric
        return logits, loss, total, ce, metric, labels, embedded

    def _update_metrics(self, x, y, logits, sample_weight, total, ce, metric):
        # Loss trackers are weighted by the replica's batch size (as Keras' own `loss`), so
        # their sum over replicas is the global batch's mean.
        size = ops.cast(ops.shape(logits)[0], "float32")
        for m in self.metrics:
            if m is self.ce_tracker:
                m.update_state(ce, sample_weight=size)
            elif m is self.metric_tracker:
                m.update_state(metric, sample_weight=size)
            elif m.name == "loss":
                m.update_state(total, sample_weight=size)
            else:
                m.update_state(y, logits, sample_weight=sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits, loss, total, ce, metric, labels, embedded = self._step_losses(
                x, y, sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables) if g is not None]
        )
        if self.metric_loss == "center" and self.center_update == "wen":
            # From the global batch's features and labels: one update, the same on every
            # replica (and the same as on one device).
            self.centers.assign(
                wen_center_update(labels, embedded, self.centers, self.center_alpha))
        return self._update_metrics(x, y, logits, sample_weight, total, ce, metric)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits, _, total, ce, metric, _, _ = self._step_losses(x, y, sample_weight, training=False)
        return self._update_metrics(x, y, logits, sample_weight, total, ce, metric)

    # --- Stage 2 ---------------------------------------------------------------------------

    def extract_features(self, x, batch_size=256):
        """Returns the backbone's features `(N, d)` (numpy, inference mode) for images `x`.

        uint8 images are scaled to [0, 1]; float images pass unchanged.
        """
        features = self.backbone.predict(to_float_images(x), batch_size=batch_size, verbose=0)
        return np.asarray(features, dtype=np.float32)

    def retrain_classifier(
        self,
        x,
        y,
        method="reweight",
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        weighting="inverse",
        beta=0.9999,
        reinitialize=False,
        validation_data=None,
        seed=0,
        verbose=0,
        optimizer=None,
        callbacks=(),
    ):
        """Stage 2: fine-tunes only the linear head, with class re-weighting or re-sampling.

        The feature extractor is frozen: its features are computed once in inference mode
        (BatchNorm uses its moving statistics, which are not updated) and the head alone is
        trained on them, so no backbone weight can change. The head starts from its stage-1
        weights (fine-tuning, as in Zeng et al.) unless `reinitialize=True` (cRT); the feature
        dropout of stage 1 (`dropout`) is not applied. Softmax cross-entropy, by default with
        Adam and a learning rate cosine-decayed from `learning_rate` to 0 over the `epochs`;
        `optimizer` replaces that (Zeng et al.'s protocol is SGD from 0.1, cosine-decayed to
        1e-6 over 10 epochs: `methods.two_stage.PAPER_STAGE2`):

        - `"reweight"` (cRW): every sample weighted by `losses.class_weights(counts, weighting)`
          of its class, with instance-shuffled batches.
        - `"resample"` (cRS): class-balanced sampling; each epoch draws N samples with
          replacement, every class with probability 1/C, then a sample of it uniformly.

        Args:
            x: images `(N, H, W, C)` (uint8 or float), normally the training split.
            y: integer labels `(N,)` / `(N, 1)` or one-hot `(N, C)`. Every class must occur.
            method: `"reweight"` or `"resample"`. Defaults to `"reweight"`.
            epochs: int >= 1. Defaults to `10`.
            batch_size: int >= 1. Defaults to `32`.
            learning_rate: float > 0. Initial learning rate. Defaults to `1e-3`.
            weighting: `"inverse"`, `"sqrt_inverse"` or `"effective"` (for `"reweight"`).
                Defaults to `"inverse"`.
            beta: float in [0, 1), for `weighting="effective"`. Defaults to `0.9999`.
            reinitialize: bool. Re-initialise the head first. Defaults to `False`.
            validation_data: `None` or `(x_val, y_val)` scored after every epoch.
            seed: int. Seeds the batch order / sampling. Defaults to `0`.
            verbose: `fit` verbosity. Defaults to `0`.
            optimizer: `None` (Adam with the cosine decay above) or a fresh
                `keras.optimizers.Optimizer` (with its own learning rate or schedule over the
                `epochs` × `ceil(N / batch_size)` steps; `learning_rate` is then unused), e.g.
                `methods.optimization.build_optimizer(...)`. Defaults to `None`.
            callbacks: Keras callbacks for the head's `fit` (their `model` is the head).
                Defaults to `()`.

        Returns:
            The `keras.callbacks.History` of the head's training.

        Raises:
            ValueError: an unknown `method`, mismatched `x` / `y`, or a class without samples.
        """
        check_choice(method, "method", ("reweight", "resample"))
        epochs = check_int(epochs, "epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0,
                                    min_inclusive=False)
        seed = check_int(seed, "seed", minimum=0)
        if optimizer is not None and not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "Invalid type received for argument `optimizer`. Expected None or a "
                f"keras.optimizers.Optimizer. Received: optimizer={optimizer!r}")
        labels = _as_int_labels(y)
        x, labels = check_images_labels(np.asarray(x), labels, self.num_classes)
        counts = check_class_counts(
            np.bincount(labels, minlength=self.num_classes).tolist(), self.num_classes
        )
        features = self.extract_features(x)
        n = len(labels)
        steps = steps_per_epoch(n, batch_size)

        if reinitialize:
            kernel = self.classifier.kernel
            kernel.assign(keras.initializers.GlorotUniform(seed=seed)(kernel.shape))
            bias = getattr(self.classifier, "bias", None)  # the cosine head has none
            if bias is not None:
                bias.assign(ops.zeros_like(bias))
        inputs = keras.Input((self.feature_dim,), name="features")
        head = keras.Model(inputs, self.classifier(inputs), name="head")
        if optimizer is None:
            optimizer = keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps))
        head.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )

        rng = np.random.default_rng(seed)
        if method == "reweight":
            weights = np.asarray(class_weights(counts, weighting, beta), np.float32)
            order = np.concatenate([rng.permutation(n) for _ in range(epochs)])
            sample_weight = weights[labels]
        else:
            probabilities = (1.0 / self.num_classes) / np.asarray(counts, np.float64)[labels]
            order = rng.choice(n, size=epochs * n, replace=True, p=probabilities)
            sample_weight = np.ones(n, np.float32)
        # One finite dataset per epoch, concatenated: `steps` batches per epoch.
        per_epoch = order.reshape(epochs, n)
        index = tf.data.Dataset.from_tensor_slices(per_epoch).flat_map(
            lambda row: tf.data.Dataset.from_tensor_slices(row).batch(batch_size)
        )
        feats = tf.constant(features)
        labs = tf.constant(labels.astype(np.int32))
        sw = tf.constant(sample_weight)
        train = index.map(
            lambda i: (tf.gather(feats, i), tf.gather(labs, i), tf.gather(sw, i))
        ).prefetch(tf.data.AUTOTUNE)
        validation = None
        if validation_data is not None:
            x_val, y_val = validation_data
            validation = (self.extract_features(x_val), _as_int_labels(y_val))
        return head.fit(
            train, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
            verbose=verbose, shuffle=False, callbacks=list(callbacks),
        )

    # --- Config ----------------------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "metric_loss": self.metric_loss,
            "metric_weight": self.metric_weight,
            "ce_weight": self.ce_weight,
            "dropout": self.dropout,
            "center_update": self.center_update,
            "center_alpha": self.center_alpha,
            "triplet_margin": self.triplet_margin,
            "triplet_mining": self.triplet_mining,
            "triplet_distance": self.triplet_distance,
            "temperature": self.temperature,
            "base_temperature": self.base_temperature,
            "projection_hidden_dim": self.projection_hidden_dim,
            "projection_dim": self.projection_dim,
            "head": self.head,
            "head_scale": self.head_scale,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserialising a functional model consumes its config
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
