"""Batch augmentation for the sampling pipelines: random flips, a small rotation and a random
crop resized back to the input size, all folded into one affine warp per image."""

import math

import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_float

_FLIPS = (None, "horizontal", "vertical", "horizontal_and_vertical")


def _check_seed_tensor(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank != 1 or seed.shape[0] != 2:
        raise ValueError(
            "Invalid value received for argument `seed`. Expected a shape (2,) integer tensor "
            f"(a stateless random seed). Received: seed with shape {seed.shape}"
        )
    return tf.cast(seed, tf.int64)


@kerasimb_export("kerasimb.data.augment_batch", serializable=False)
def augment_batch(images, seed, flip="horizontal_and_vertical", max_rotation=15.0, min_crop=0.8,
                  fill_mode="reflect"):
    """Randomly flips, rotates and crops-and-resizes a batch of images, one draw per image.

    The training augmentation of Galdran et al. (2021): random flips, a small rotation and a
    random crop resized to the input size. The three are composed into one affine transform per
    image and applied with a single bilinear warp
    (`tf.raw_ops.ImageProjectiveTransformV3`), so the cost is one pass over the pixels whatever
    is enabled. For output pixel `o` (centre `c`), the input pixel read is
    `c + t + s * R(theta) * F * (o - c)`: `F` flips each axis with probability 1/2 (when
    enabled), `theta ~ U(-max_rotation, max_rotation)` degrees, the crop keeps a square of side
    fraction `s ~ U(sqrt(min_crop), 1)` (area fraction in `[min_crop, 1]`) and shifts it by
    `t ~ U(-(1 - s), (1 - s)) * half the image size` so that it stays inside the image.
    Randomness is stateless: the same `seed` gives the same augmentation.

    Args:
        images: float tensor `(B, H, W, C)`.
        seed: int tensor of shape `(2,)`, a stateless random seed.
        flip: `None`, `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
            Defaults to `"horizontal_and_vertical"`.
        max_rotation: float in [0, 180]. Largest rotation in degrees. Defaults to `15.0`.
        min_crop: float in (0, 1]. Smallest crop area as a fraction of the image; `1` disables
            cropping. Defaults to `0.8`.
        fill_mode: `"reflect"`, `"nearest"`, `"wrap"` or `"constant"` (zeros), for pixels read
            from outside the image. Defaults to `"reflect"`.

    Returns:
        Float32 tensor with the shape of `images`.

    Raises:
        ValueError: an unknown `flip` or `fill_mode`, an out-of-range `max_rotation` or
            `min_crop`, or images that are not a 4-D batch.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    >>> out = augment_batch(x, seed=[0, 1])
    >>> tuple(out.shape)
    (2, 8, 8, 1)
    >>> bool(np.allclose(augment_batch(x, [0, 1]), out))   # same seed, same augmentation
    True
    >>> bool(np.allclose(augment_batch(x, [0, 1], flip=None, max_rotation=0.0, min_crop=1.0), x))
    True
    """
    check_choice(flip, "flip", _FLIPS)
    max_rotation = check_float(max_rotation, "max_rotation", 0.0, 180.0)
    min_crop = check_float(min_crop, "min_crop", 0.0, 1.0, min_inclusive=False)
    check_choice(fill_mode, "fill_mode", ("reflect", "nearest", "wrap", "constant"))
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4:
        raise ValueError(
            "Invalid value received for argument `images`. Expected a batch (B, H, W, C). "
            f"Received: images with shape {images.shape}"
        )
    seed = _check_seed_tensor(seed)
    batch = tf.shape(images)[0]
    height = tf.cast(tf.shape(images)[1], tf.float32)
    width = tf.cast(tf.shape(images)[2], tf.float32)
    draws = tf.random.stateless_uniform((batch, 6), seed=seed)  # flip x, flip y, angle, s, tx, ty
    ones = tf.ones((batch,))
    flip_x = tf.where(draws[:, 0] < 0.5, -ones, ones) if flip in ("horizontal", "horizontal_and_vertical") else ones
    flip_y = tf.where(draws[:, 1] < 0.5, -ones, ones) if flip in ("vertical", "horizontal_and_vertical") else ones
    theta = (2.0 * draws[:, 2] - 1.0) * (max_rotation * math.pi / 180.0)
    low = math.sqrt(min_crop)
    scale = low + (1.0 - low) * draws[:, 3]
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    tx = (2.0 * draws[:, 4] - 1.0) * (1.0 - scale) * width / 2.0
    ty = (2.0 * draws[:, 5] - 1.0) * (1.0 - scale) * height / 2.0
    cos, sin = tf.cos(theta), tf.sin(theta)
    # M = s * R * F; input = M @ (o - c) + c + t.
    a0, a1 = scale * cos * flip_x, -scale * sin * flip_y
    b0, b1 = scale * sin * flip_x, scale * cos * flip_y
    a2 = cx + tx - a0 * cx - a1 * cy
    b2 = cy + ty - b0 * cx - b1 * cy
    zeros = tf.zeros((batch,))
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode.upper(),
    )


def resolve_augment(augment):
    """Returns a batch function `(images, seed) -> images`, or `None`.

    `augment` is `None`/`False` (no augmentation), `True` (`augment_batch` with its defaults), a
    dict of `augment_batch` keyword arguments, or a callable `(images, seed) -> images`.
    """
    if augment is None or augment is False:
        return None
    if augment is True:
        return augment_batch
    if isinstance(augment, dict):
        kwargs = dict(augment)
        augment_batch(tf.zeros((1, 4, 4, 1)), [0, 0], **kwargs)  # validate the arguments now
        return lambda images, seed: augment_batch(images, seed, **kwargs)
    if callable(augment):
        return augment
    raise TypeError(
        "Invalid type received for argument `augment`. Expected None, a bool, a dict of "
        f"`augment_batch` arguments or a callable (images, seed) -> images. Received: augment={augment!r}"
    )
