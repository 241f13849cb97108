"""`BBN`: bilateral-branch network with cumulative learning (Zhou et al., CVPR 2020), simplified.

Two branches share a feature extractor: the conventional branch sees instance-sampled images,
the re-balancing branch reversed-sampled ones (`methods.bbn`). Each branch has its own last
block and linear classifier; the logits mix them, ŷ = α · W_c f_c + (1 − α) · W_r f_r, and the
loss is α · L(ŷ, y_c) + (1 − α) · L(ŷ, y_r), with α moved from 1 towards 0 over training by
`methods.bbn.CumulativeLearning`. At inference both branches see the same image with α = 0.5.

Simplification: the branch-specific "last block" is one `Dense` + ReLU layer on the shared
pooled features (Zhou et al. duplicate the backbone's last residual block), so any backbone of
the library can be used.
"""

import copy

import keras
import tensorflow as tf
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.models.heads import output_shape
from kerasimb.utils.validation import check_float, check_int


@kerasimb_export("kerasimb.models.BBN")
class BBN(keras.Model):
    """Bilateral-branch network (Zhou et al., 2020) on a shared feature extractor.

    `fit` takes inputs `(x_c, x_r)` and targets `(y_c, y_r)` (batches `((x_c, x_r), (y_c,
    y_r))` of a dataset): the conventional branch's instance-sampled
    images and labels and the re-balancing branch's reversed-sampled ones (one-hot or soft
    labels for the compiled loss, which must take logits). `alpha`, a non-trainable variable,
    is the weight of the conventional branch during training (set it, or let
    `methods.bbn.CumulativeLearning` set it each epoch). Called on images (`predict`,
    `evaluate`) the model outputs 0.5 · W_c f_c + 0.5 · W_r f_r with both branches on the same
    images. One device only (no `tf.distribute` scaling of the mixed loss).

    Args:
        backbone: a `keras.Model` from images to feature vectors `(batch, d)`.
        num_classes: int >= 2.
        branch_units: int >= 1 or `None` (= d). Width of each branch's own block.
            Defaults to `None`.
        alpha: float in [0, 1]. Initial training α. Defaults to `1.0`.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> import keras, numpy as np
    >>> backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    >>> model = BBN(backbone, 3)
    >>> model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    >>> x, y = np.ones((6, 4), "float32"), np.eye(3)[[0, 1, 2, 0, 1, 2]]
    >>> history = model.fit((x, x), (y, y), epochs=1, verbose=0, batch_size=3)
    >>> model.predict(x, verbose=0).shape
    (6, 3)
    """

    def __init__(self, backbone, num_classes, branch_units=None, alpha=1.0, **kwargs):
        if not isinstance(backbone, keras.Model):
            raise TypeError(
                "Invalid type received for argument `backbone`. Expected a keras.Model mapping "
                f"images to feature vectors. Received: backbone={backbone!r}")
        feature_shape = output_shape(backbone)
        if feature_shape is None or len(feature_shape) != 2 or feature_shape[-1] is None:
            raise ValueError(
                "Invalid value received for argument `backbone`. Expected a model whose output "
                f"is a feature vector (batch, features). Received: output shape {feature_shape}")
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        feature_dim = int(feature_shape[-1])
        branch_units = feature_dim if branch_units is None else check_int(
            branch_units, "branch_units", minimum=1)
        alpha = check_float(alpha, "alpha", 0.0, 1.0)
        kwargs.setdefault("name", "bbn")
        super().__init__(**kwargs)

        # === Layers ===
        self.backbone = backbone
        self.conventional_block = keras.layers.Dense(branch_units, activation="relu",
                                                     name="conventional_block")
        self.rebalancing_block = keras.layers.Dense(branch_units, activation="relu",
                                                    name="rebalancing_block")
        self.conventional_classifier = keras.layers.Dense(num_classes, dtype="float32",
                                                          name="conventional_logits")
        self.rebalancing_classifier = keras.layers.Dense(num_classes, dtype="float32",
                                                         name="rebalancing_logits")

        # === Config ===
        self.num_classes = num_classes
        self.branch_units = branch_units
        self.feature_dim = feature_dim
        self.initial_alpha = alpha
        self.alpha = None
        self.build(backbone.input_shape)

    def build(self, input_shape):
        if self.built:
            return
        self.conventional_block.build((None, self.feature_dim))
        self.rebalancing_block.build((None, self.feature_dim))
        self.conventional_classifier.build((None, self.branch_units))
        self.rebalancing_classifier.build((None, self.branch_units))
        self.alpha = self.add_weight(shape=(), initializer=keras.initializers.Constant(
            self.initial_alpha), trainable=False, dtype="float32", name="alpha")
        self.built = True

    def mixed_logits(self, x_conventional, x_rebalancing, alpha, training=None):
        """α · W_c f_c(x_conventional) + (1 − α) · W_r f_r(x_rebalancing), float32."""
        f_c = self.conventional_block(self.backbone(x_conventional, training=training))
        f_r = self.rebalancing_block(self.backbone(x_rebalancing, training=training))
        alpha = ops.cast(alpha, "float32")
        return (alpha * self.conventional_classifier(f_c)
                + (1.0 - alpha) * self.rebalancing_classifier(f_r))

    def call(self, inputs, training=None):
        return self.mixed_logits(inputs, inputs, 0.5, training=training)

    def mixed_loss(self, x_conventional, x_rebalancing, y_conventional, y_rebalancing,
                   training=None):
        """`(logits, α · L(ŷ, y_c) + (1 − α) · L(ŷ, y_r))` with the compiled loss L."""
        logits = self.mixed_logits(x_conventional, x_rebalancing, self.alpha, training)
        loss = (self.alpha * ops.cast(self.loss(y_conventional, logits), "float32")
                + (1.0 - self.alpha) * ops.cast(self.loss(y_rebalancing, logits), "float32"))
        return logits, loss

    def _update_metrics(self, y, logits, loss):
        size = ops.cast(ops.shape(logits)[0], "float32")
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=size)
            else:
                metric.update_state(y, logits)
        return {**self.get_metrics_result(), "bbn_alpha": ops.convert_to_tensor(self.alpha)}

    def train_step(self, data):
        (x_c, x_r), (y_c, y_r), _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits, loss = self.mixed_loss(x_c, x_r, y_c, y_r, training=True)
            total = loss + (ops.sum(self.losses) if self.losses else 0.0)
            scaled = self.optimizer.scale_loss(total)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables) if g is not None])
        return self._update_metrics(y_c, logits, loss)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=False)
        loss = ops.cast(self.loss(y, logits), "float32")
        return {k: v for k, v in self._update_metrics(y, logits, loss).items()
                if k != "bbn_alpha"}

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "branch_units": self.branch_units,
            "alpha": self.initial_alpha,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
