"""Transfer learning: train the head on a frozen pretrained backbone, then fine-tune it all."""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_int


def find_backbone(model):
    """The feature extractor inside `model`: the nested `keras.Model` among its layers with the
    most weights (the `keras.applications` backbone of `models.build_classifier`, the feature
    model of the two-stage classifiers).

    Raises:
        ValueError: `model` holds no nested `keras.Model` (e.g. `small_cnn`, a flat stack of
            layers, has no backbone to freeze).
    """
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if not nested:
        raise ValueError(
            "Invalid value received for argument `model`. Expected a model with a backbone (a "
            "nested keras.Model, as `models.build_classifier` builds for keras.applications "
            f"backbones) to freeze. Received: model {model.name!r} without one")
    return max(nested, key=lambda layer: sum(int(w.numpy().size) for w in layer.weights))


def check_freeze_backbone(freeze_backbone, epochs):
    """Checks a `freeze_backbone` setting against the run's `epochs`; returns it.

    `None`/`False`: nothing frozen (returns `None`); `True`: frozen throughout; an int `n`
    with `1 <= n < epochs`: frozen for the first `n` epochs, then fine-tuned.
    """
    if freeze_backbone is None or freeze_backbone is False:
        return None
    if freeze_backbone is True:
        return True
    if isinstance(freeze_backbone, int) and 1 <= freeze_backbone < epochs:
        return int(freeze_backbone)
    raise ValueError(
        "Invalid value received for argument `freeze_backbone`. Expected None, True (frozen "
        f"throughout) or a number of frozen epochs from 1 to epochs - 1 = {epochs - 1}. "
        f"Received: freeze_backbone={freeze_backbone!r}")


def freeze_callbacks(freeze_backbone):
    """`[FreezeBackbone]` for a checked `freeze_backbone` setting, or `[]` for `None`."""
    if freeze_backbone is None:
        return []
    return [FreezeBackbone(None if freeze_backbone is True else freeze_backbone)]


@kerasimb_export("kerasimb.callbacks.FreezeBackbone", serializable=False)
class FreezeBackbone(keras.callbacks.Callback):
    """Keeps the model's backbone frozen for the first `epochs` epochs, then fine-tunes it.

    The usual transfer-learning schedule: with pretrained weights, a randomly initialised head
    trained together with the backbone sends large gradients into it and spoils the pretrained
    features; training the head alone first avoids that. While frozen, the backbone's weights
    do not change and its batch-normalisation layers run in inference mode (Keras' rule for
    `trainable = False`). From epoch `epochs` on (counting from 0) every layer trains. With
    `epochs=None` the backbone stays frozen throughout (a linear probe of its features). The
    state follows the epoch number, so a run resumed after the switch goes on unfrozen.

    The optimizer is built with every variable before the first freeze, so its state (and a
    `ResumableBackup` of it) has the same shape in both phases; the training step is traced
    again at each switch. The backbone is `find_backbone(model)`; `trainable` is restored when
    training ends.

    Args:
        epochs: `None` or int >= 1: the number of frozen epochs. Defaults to `None`.

    Example:

    >>> import numpy as np, keras
    >>> from kerasimb.models import build_classifier
    >>> model = build_classifier("mobilenetv2", (32, 32, 3), num_classes=2)
    >>> model.compile(optimizer="adam", loss="categorical_crossentropy")
    >>> before = model.get_layer("logits").get_weights()[0].copy()
    >>> x, y = np.zeros((4, 32, 32, 3), "float32"), np.eye(2)[[0, 1, 0, 1]]
    >>> backbone = [l for l in model.layers if isinstance(l, keras.Model)][0]
    >>> frozen = [w.numpy().copy() for w in backbone.trainable_weights]
    >>> _ = model.fit(x, y, epochs=1, verbose=0, callbacks=[FreezeBackbone(epochs=1)])
    >>> all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, backbone.trainable_weights))
    True
    """

    def __init__(self, epochs=None):
        super().__init__()
        self.epochs = None if epochs is None else check_int(epochs, "epochs", minimum=1)
        self.backbone = None
        self.frozen = False

    def _set_frozen(self, frozen):
        if frozen == self.frozen:
            return
        self.backbone.trainable = not frozen
        self.frozen = frozen
        self.model.make_train_function(force=True)  # trace the step with the new variables

    def on_train_begin(self, logs=None):
        self.backbone = find_backbone(self.model)
        self.frozen = False
        self.backbone.trainable = True
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)

    def on_epoch_begin(self, epoch, logs=None):
        self._set_frozen(self.epochs is None or epoch < self.epochs)

    def on_train_end(self, logs=None):
        if self.backbone is not None and self.frozen:
            self.backbone.trainable = True
            self.frozen = False
            self.model.make_train_function(force=True)
