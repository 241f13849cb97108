"""Image scaling, written once: uint8 pixels to float32 in [0, 1], float images as float32.

Every kerasimb pipeline and model takes float32 images in [0, 1] (or already standardised
floats). `to_float_images` converts arrays on the host (NumPy); `to_float_tensor` is the same
rule inside a `tf.data` pipeline or a compiled function.
"""

import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export


def check_unit_range(images, argument, where=""):
    """Raises when float `images` leave [0, 1]: float pixels are used as they are (uint8 ones
    are divided by 255), so float 0-255 images would be fed unscaled. uint8 images pass.

    Args:
        images: a numpy array.
        argument: str, the argument named in the error.
        where: str, more words placing the images (e.g. `" in 'x' of scans.npz"`).

    >>> check_unit_range(np.full((1, 2, 2, 1), 200, np.uint8), "x")
    >>> check_unit_range(np.full((1, 2, 2, 1), 200.0), "x")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for argument `x`. Expected uint8 images (0-255) or float images in [0, 1] (float pixels are used as they are). Received: dtype float64, min 200, max 200; for 0-255 values divide by 255 (`x / 255`) or convert them with `x.astype('uint8')`
    """
    if images.dtype.kind != "f" or not images.size:
        return
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    if low < -1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"Invalid value received for argument `{argument}`. Expected uint8 images (0-255) "
            f"or float images in [0, 1] (float pixels are used as they are). Received: dtype "
            f"{images.dtype}, min {low:g}, max {high:g}{where}; for 0-255 values divide by 255 "
            "(`x / 255`) or convert them with `x.astype('uint8')`")


@kerasimb_export("kerasimb.utils.to_float_images", serializable=False)
def to_float_images(x):
    """Returns images as a float32 NumPy array: uint8 divided by 255, anything else cast.

    Only uint8 is rescaled; float images (and other dtypes) keep their values, so images that
    are already in [0, 1], or standardised, pass unchanged.

    Args:
        x: array-like of images, e.g. `(N, H, W, C)`, uint8 or float.

    Returns:
        A float32 `np.ndarray` of the same shape.

    Example:

    >>> to_float_images(np.array([0, 51, 255], np.uint8)).astype(float).round(6).tolist()
    [0.0, 0.2, 1.0]
    >>> to_float_images(np.array([0.5, 2.0])).dtype
    dtype('float32')
    """
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


@kerasimb_export("kerasimb.utils.to_float_tensor", serializable=False)
def to_float_tensor(images):
    """Returns images as a float32 tensor: uint8 divided by 255, anything else cast.

    The `tf` counterpart of `to_float_images`, for `tf.data` maps and `tf.function`s.

    Args:
        images: a tensor (or anything `tf.convert_to_tensor` accepts), uint8 or float.

    Returns:
        A float32 `tf.Tensor` of the same shape.

    Example:

    >>> to_float_tensor(tf.constant([0, 51, 255], tf.uint8)).numpy().astype(float).round(6).tolist()
    [0.0, 0.2, 1.0]
    """
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)
