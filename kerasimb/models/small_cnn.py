"""`SmallCNN`: a few conv blocks and a linear head, the fast default model of `compare`."""

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_float, check_input_shape, check_int


@kerasimb_export("kerasimb.models.SmallCNN")
class SmallCNN(keras.Model):
    """A small convolutional classifier for low-resolution images (MedMNIST, digits-lt).

    `depth` blocks of Conv 3x3 -> BatchNorm -> ReLU -> MaxPool 2x2, with `width * 2**i` filters
    in block `i`, then global average pooling, dropout and a linear classifier. The classifier
    (`"logits"`) has dtype float32, so the model outputs float32 logits under a mixed-precision
    policy too. It trains in seconds on a CPU on a few hundred 28x28 images, which makes it the
    default model of `experiment.compare` and of the `kerasimb compare` command.

    BatchNorm uses `momentum=0.9` (PyTorch's default) rather than Keras' `0.99`: with a few hundred
    training images an epoch is a handful of steps, too few for the slower moving statistics to
    settle, and inference would then see badly scaled features.

    Inputs are float images in [0, 1] (the pipelines in `kerasimb.data` scale uint8 pixels).

    Args:
        input_shape: tuple `(height, width, channels)`. Height and width must be at least
            `2**depth` (each block halves them).
        num_classes: int >= 2. Number of logits.
        width: int >= 1. Filters of the first block; block `i` has `width * 2**i`.
            Defaults to `32`.
        depth: int >= 1. Number of conv blocks. Defaults to `3`.
        dropout: float in [0, 1). Dropout rate before the classifier. Defaults to `0.2`.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:

    >>> model = SmallCNN((28, 28, 1), num_classes=10, width=8, depth=2)
    >>> tuple(model.output.shape)
    (None, 10)
    """

    def __init__(self, input_shape, num_classes, width=32, depth=3, dropout=0.2, **kwargs):
        input_shape = check_input_shape(input_shape)
        num_classes = check_int(num_classes, "num_classes", minimum=2)
        width = check_int(width, "width", minimum=1)
        depth = check_int(depth, "depth", minimum=1)
        dropout = check_float(dropout, "dropout", 0.0, 1.0, max_inclusive=False)
        smallest = 2**depth
        if min(input_shape[:2]) < smallest:
            raise ValueError(
                f"Invalid value received for argument `input_shape`. Expected height and width "
                f"of at least {smallest} for depth={depth} (each block halves them). Received: "
                f"input_shape={input_shape}"
            )
        kwargs.setdefault("name", "small_cnn")

        # === Layers ===
        self.blocks = []
        for i in range(depth):
            self.blocks.append(
                [
                    keras.layers.Conv2D(
                        width * 2**i, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv"
                    ),
                    keras.layers.BatchNormalization(momentum=0.9, name=f"block{i + 1}_bn"),
                    keras.layers.ReLU(name=f"block{i + 1}_relu"),
                    keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool"),
                ]
            )
        self.pooler = keras.layers.GlobalAveragePooling2D(name="pooler")
        self.head_dropout = keras.layers.Dropout(dropout, name="head_dropout")
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="images")
        x = inputs
        for block in self.blocks:
            for layer in block:
                x = layer(x)
        x = self.head_dropout(self.pooler(x))
        outputs = self.classifier(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.width = width
        self.depth = depth
        self.dropout = dropout

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "input_shape": list(self.input_shape[1:]),
            "num_classes": self.num_classes,
            "width": self.width,
            "depth": self.depth,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
