"""`ImageNetInputs`: maps [0, 1] grey or RGB images to what ImageNet-pretrained backbones expect."""

import keras
from keras import ops

from kerasimb.utils.validation import check_choice

_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


# Registered for `.keras` files but not exported: an internal step of `build_backbone`.
@keras.saving.register_keras_serializable(package="kerasimb")
class ImageNetInputs(keras.layers.Layer):
    """Repeats grey images to 3 channels and applies a `keras.applications` input scaling.

    kerasimb pipelines yield images in [0, 1]; the ImageNet weights of `keras.applications`
    expect the output of the architecture's own `preprocess_input` applied to 0-255 RGB. This
    layer does both steps inside the model, so a saved model takes [0, 1] images directly:

    - a single grey channel is repeated to 3 (RGB) channels;
    - `"tf"` (MobileNetV2, InceptionV3, Xception): `2x - 1`, in [-1, 1];
    - `"torch"` (DenseNet): `(x - mean) / std` with the ImageNet RGB mean and std;
    - `"caffe"` (ResNet50, VGG16): RGB -> BGR, `255x - mean` with the ImageNet BGR mean.

    Args:
        mode: `"tf"`, `"torch"` or `"caffe"`. Defaults to `"tf"`.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: float tensor `(batch, height, width, 1 or 3)` in [0, 1].

    Returns:
        Float tensor `(batch, height, width, 3)`.

    Example:

    >>> import numpy as np
    >>> layer = ImageNetInputs("tf")
    >>> np.asarray(layer(np.full((1, 2, 2, 1), 0.5, "float32")))[0, 0, 0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, mode="tf", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice(mode, "mode", ("tf", "torch", "caffe"))

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] not in (1, 3):
            raise ValueError(
                "Invalid input received by `ImageNetInputs`. Expected images of shape "
                f"(batch, height, width, 1 or 3). Received: shape {tuple(input_shape)}"
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if x.shape[-1] == 1:
            x = ops.concatenate([x, x, x], axis=-1)
        if self.mode == "tf":
            return x * 2.0 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_MEAN, self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_STD, self.compute_dtype)
            return (x - mean) / std
        x = ops.flip(x, axis=-1)  # RGB -> BGR
        return x * 255.0 - ops.convert_to_tensor(_CAFFE_MEAN_BGR, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
