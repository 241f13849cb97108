"""The tiny data set and model shared by the distribution test scripts (no TensorFlow set-up
here: the scripts configure devices / TF_CONFIG before importing it)."""

import keras
import numpy as np


def tiny_dataset(size=12):
    """3 imbalanced classes of `size`x`size` grey images, each class a bright vertical band."""
    from kerasimb.data import ImageDataset

    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), size, size, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, 3 * c: 3 * c + 4, 0] += 170
        return x, y

    return ImageDataset(split([40, 16, 8]), split([6, 6, 6]), split([10, 10, 10]),
                        class_names=["a", "b", "c"], name="tiny")


def make_model_fn(batch_norm):
    def plain_cnn(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
        if batch_norm:
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
        return keras.Model(inputs, outputs, name="plain_cnn")

    return plain_cnn
