"""Batch augmentation for the training pipelines: random flips, a small rotation, a random crop
resized back to the input size and, for RGB images, a small colour jitter; one draw per image.

Presets (`resolve_augment`): `"none"`; `"flip"`, random horizontal and vertical flips (exact
pixel reversals, no resampling); `"standard"`, the papers' training augmentation: flips, a
rotation of up to ±15°, a random crop (area 80-100 %) resized back to the input size and a small
brightness / contrast / saturation jitter of RGB images.

Every batch is augmented by one compiled kernel (XLA, where TensorFlow has it, as the standard
builds do): uint8 pixels are scaled to [0, 1], flipped or warped, jittered and, in the mixing
pipelines, mixed with their partner batch in one pass over the batch, so that a 224-pixel batch
costs a few passes over its pixels rather than one per operation. Without XLA the same
arithmetic runs as ordinary TensorFlow ops (the affine warp as
`tf.raw_ops.ImageProjectiveTransformV3`).
"""

import math

import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.images import to_float_tensor
from kerasimb.utils.validation import check_choice, check_float

_FLIPS = (None, "horizontal", "vertical", "horizontal_and_vertical")
_FILL_MODES = ("reflect", "nearest", "wrap", "constant")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 grey level of RGB

# The named augmentations of `resolve_augment` (and of the command line's `--augment`).
PRESETS = {
    "none": None,
    "flip": {"flip": "horizontal_and_vertical", "max_rotation": 0.0, "min_crop": 1.0},
    "standard": {"flip": "horizontal_and_vertical", "max_rotation": 15.0, "min_crop": 0.8,
                 "brightness": 0.1, "contrast": 0.1, "saturation": 0.1},
    # Chen et al. (2021) on OCTMNIST: a random horizontal flip only.
    "hflip": {"flip": "horizontal", "max_rotation": 0.0, "min_crop": 1.0},
    # Zeng et al. (2022): rotation within ±30°, a random 224×224 crop of the 300×300 image (56 %
    # of the area, drawn here from 56-100 %), a random horizontal flip.
    "rotate30": {"flip": "horizontal", "max_rotation": 30.0, "min_crop": 0.56},
}


def _check_seed_tensor(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank != 1 or seed.shape[0] != 2:
        raise ValueError(
            "Invalid value received for argument `seed`. Expected a shape (2,) integer tensor "
            f"(a stateless random seed). Received: seed with shape {seed.shape}"
        )
    return tf.cast(seed, tf.int64)


def _check_images(images):
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            "Invalid value received for argument `images`. Expected a batch (B, H, W, C). "
            f"Received: images with shape {images.shape}"
        )
    return images


class BatchAugment:
    """A checked set of `augment_batch` arguments, callable as `(images, seed) -> images`.

    `resolve_augment` returns one for `True`, a preset name or a dict; the pipelines recognise
    it and run the augmentation (and any mixing) in one compiled pass over the uint8 batch.

    Args:
        **kwargs: `augment_batch` keyword arguments (`flip`, `max_rotation`, `min_crop`,
            `fill_mode`, `brightness`, `contrast`, `saturation`).

    Raises:
        ValueError: an argument out of range; TypeError: an unknown argument.

    Example:

    >>> BatchAugment(flip="horizontal", max_rotation=0.0, min_crop=1.0).geometry
    'flip'
    >>> BatchAugment().geometry, BatchAugment().colour
    ('warp', False)
    """

    def __init__(self, flip="horizontal_and_vertical", max_rotation=15.0, min_crop=0.8,
                 fill_mode="reflect", brightness=0.0, contrast=0.0, saturation=0.0):
        check_choice(flip, "flip", _FLIPS)
        check_choice(fill_mode, "fill_mode", _FILL_MODES)
        self.flip = flip
        self.max_rotation = check_float(max_rotation, "max_rotation", 0.0, 180.0)
        self.min_crop = check_float(min_crop, "min_crop", 0.0, 1.0, min_inclusive=False)
        self.fill_mode = fill_mode
        self.brightness = check_float(brightness, "brightness", 0.0, 1.0)
        self.contrast = check_float(contrast, "contrast", 0.0, 1.0)
        self.saturation = check_float(saturation, "saturation", 0.0, 1.0)

    @property
    def kwargs(self):
        return {"flip": self.flip, "max_rotation": self.max_rotation, "min_crop": self.min_crop,
                "fill_mode": self.fill_mode, "brightness": self.brightness,
                "contrast": self.contrast, "saturation": self.saturation}

    @property
    def geometry(self):
        """`"warp"` (rotation or crop: bilinear resampling), `"flip"` (flips only) or `None`."""
        if self.max_rotation > 0.0 or self.min_crop < 1.0:
            return "warp"
        return "flip" if self.flip else None

    @property
    def colour(self):
        """Whether any colour jitter is set (applied to 3-channel images only)."""
        return self.brightness > 0.0 or self.contrast > 0.0 or self.saturation > 0.0

    def __call__(self, images, seed):
        return prepare_batch(images, self, seed)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"BatchAugment({args})"


@kerasimb_export("kerasimb.data.augment_batch", serializable=False)
def augment_batch(images, seed, flip="horizontal_and_vertical", max_rotation=15.0, min_crop=0.8,
                  fill_mode="reflect", brightness=0.0, contrast=0.0, saturation=0.0):
    """Randomly flips, rotates, crops-and-resizes and colour-jitters a batch, one draw per image.

    The training augmentation of Galdran et al. (2021): random flips, a small rotation and a
    random crop resized to the input size, composed into one affine transform per image and
    applied with a single bilinear warp. For output pixel `o` (centre `c`), the input pixel read
    is `c + t + s * R(theta) * F * (o - c)`: `F` flips each axis with probability 1/2 (when
    enabled), `theta ~ U(-max_rotation, max_rotation)` degrees, the crop keeps a square of side
    fraction `s ~ U(sqrt(min_crop), 1)` (area fraction in `[min_crop, 1]`) and shifts it by
    `t ~ U(-(1 - s), (1 - s)) * half the image size` so that it stays inside the image. With
    `max_rotation=0` and `min_crop=1` only the flips remain: they are done as exact pixel
    reversals, with no resampling (and give the same images as the warp would): horizontal
    flips as `tf.where(mask, tf.reverse(images, [2]), images)`, vertical ones as a gather of
    whole rows (the same images, faster once compiled).

    Colour jitter (RGB images only, `C == 3`; other channel counts are left as they are): a
    brightness shift `x + d`, `d ~ U(-brightness, brightness)`; a contrast scaling around the
    image's mean grey level `m` (of the input image), factor `k ~ U(1 - contrast, 1 + contrast)`;
    a saturation scaling around each pixel's grey level `g` (ITU-R BT.601), factor
    `u ~ U(1 - saturation, 1 + saturation)`; in all
    `clip(m + d + k * ((1 - u) * g + u * x - m), 0, 1)`. Randomness is stateless: the same
    `seed` gives the same augmentation.

    Args:
        images: tensor `(B, H, W, C)`: float, or uint8 (scaled to [0, 1] first, as the pipelines
            do).
        seed: int tensor of shape `(2,)`, a stateless random seed.
        flip: `None`, `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
            Defaults to `"horizontal_and_vertical"`.
        max_rotation: float in [0, 180]. Largest rotation in degrees. Defaults to `15.0`.
        min_crop: float in (0, 1]. Smallest crop area as a fraction of the image; `1` disables
            cropping. Defaults to `0.8`.
        fill_mode: `"reflect"`, `"nearest"`, `"wrap"` or `"constant"` (zeros), for pixels read
            from outside the image. Defaults to `"reflect"`.
        brightness: float in [0, 1]. Largest brightness shift. Defaults to `0.0` (none).
        contrast: float in [0, 1]. Largest relative contrast change. Defaults to `0.0` (none).
        saturation: float in [0, 1]. Largest relative saturation change. Defaults to `0.0`
            (none).

    Returns:
        Float32 tensor with the shape of `images`.

    Raises:
        ValueError: an unknown `flip` or `fill_mode`, an out-of-range `max_rotation`,
            `min_crop` or jitter strength, or images that are not a 4-D batch.

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
    >>> flipped = augment_batch(x, [0, 1], flip="horizontal", max_rotation=0.0, min_crop=1.0)
    >>> all(np.array_equal(f, i) or np.array_equal(f, i[:, ::-1]) for f, i in zip(flipped, x))
    True
    """
    config = BatchAugment(flip, max_rotation, min_crop, fill_mode, brightness, contrast, saturation)
    images = _check_images(images)
    if not (images.dtype == tf.uint8 or images.dtype.is_floating):
        images = tf.cast(images, tf.float32)
    return prepare_batch(images, config, seed)


@kerasimb_export("kerasimb.data.resolve_augment", serializable=False)
def resolve_augment(augment):
    """Returns a batch function `(images, seed) -> images`, or `None` for no augmentation.

    `augment` is one of

    - `None`, `False` or `"none"`: no augmentation;
    - `"flip"`: random horizontal and vertical flips only (exact, no resampling);
    - `"hflip"`: a random horizontal flip only (Chen et al., 2021);
    - `"rotate30"`: a random horizontal flip, a rotation of up to ±30° and a random crop of
      56-100 % of the area resized back (Zeng et al., 2022);
    - `"standard"`: the papers' training augmentation, flips, a rotation of up to ±15°, a random
      crop of 80-100 % of the area resized back, and (RGB images only) a brightness, contrast
      and saturation jitter of ±0.1;
    - `True`: `augment_batch` with its defaults (flips, rotation, crop; no colour jitter);
    - a dict of `augment_batch` keyword arguments;
    - a callable `(images float32 (B, H, W, C), seed (2,)) -> images`.

    Args:
        augment: see above.

    Returns:
        `None`, a `BatchAugment` (for a preset, `True` or a dict), or the callable itself.

    Raises:
        ValueError: an unknown preset name or an out-of-range `augment_batch` argument.
        TypeError: any other type, or an unknown `augment_batch` argument.

    Example:

    >>> resolve_augment("none") is None, resolve_augment(False) is None
    (True, True)
    >>> resolve_augment("flip")
    BatchAugment(flip='horizontal_and_vertical', max_rotation=0.0, min_crop=1.0, fill_mode='reflect', brightness=0.0, contrast=0.0, saturation=0.0)
    >>> resolve_augment("standard").kwargs["max_rotation"], resolve_augment(True).geometry
    (15.0, 'warp')
    """
    if augment is None or augment is False:
        return None
    if isinstance(augment, str):
        if augment not in PRESETS:
            choices = ", ".join(repr(name) for name in PRESETS)
            raise ValueError(
                f"Invalid value received for argument `augment`. Expected one of the presets "
                f"{choices}, None, a bool, a dict of `augment_batch` arguments or a callable "
                f"(images, seed) -> images. Received: augment={augment!r}"
            )
        preset = PRESETS[augment]
        return None if preset is None else BatchAugment(**preset)
    if augment is True:
        return BatchAugment()
    if isinstance(augment, dict):
        return BatchAugment(**augment)
    if callable(augment):
        return augment
    raise TypeError(
        "Invalid type received for argument `augment`. Expected None, a bool, a preset name "
        f"({', '.join(repr(name) for name in PRESETS)}), a dict of `augment_batch` arguments or a "
        f"callable (images, seed) -> images. Received: augment={augment!r}"
    )


# --- the batch kernel --------------------------------------------------------------------------


def prepare_batch(images, augment_fn, seed, mix_weight=None, swap=False):
    """The float32 training batch of `images` as stored (uint8 or float), augmented, and mixed.

    `augment_fn` is `None`, a `BatchAugment` or any callable `(images, seed) -> images` (run on
    the float batch). With `mix_weight` (a float tensor broadcastable to the half batch, e.g.
    `(1, 1, 1, 1)`, `(B, 1, 1, 1)` or a `(B, H, W, 1)` mask), `images` holds two batches one
    after the other, `a` then `b`, and the result is `(1 - w) * a + w * b` for
    `w = mix_weight` (`(1 - w) * b + w * a` with `swap=True`), augmented first with one seed for
    both halves. uint8 pixels are scaled
    to [0, 1] exactly as `utils.to_float_tensor` does, so the result equals
    `augment_fn(to_float_tensor(images), seed)` followed by the mix.
    """
    images = tf.convert_to_tensor(images)
    if augment_fn is not None and not isinstance(augment_fn, BatchAugment):
        images, augment_fn = augment_fn(to_float_tensor(images), seed), None
    config, tensors = _kernel_inputs(images, augment_fn, seed)
    if mix_weight is None and not tensors:  # nothing to do but scale
        return to_float_tensor(images)
    mix = None
    if mix_weight is not None:
        mix = "swap" if swap else "mix"
        tensors["weight"] = tf.cast(mix_weight, tf.float32)
    return _kernel((*config, mix))(images, tf.constant(255.0), **tensors)


def _kernel_inputs(images, config, seed):
    """Static kernel settings and the per-image random parameters of one batch."""
    channels = images.shape[-1]
    geometry = config.geometry if config is not None else None
    colour = config is not None and config.colour and channels == 3
    tensors = {}
    if config is not None:
        seed = _check_seed_tensor(seed)
    if geometry is not None or colour:
        batch = tf.shape(images)[0]
        # flip x, flip y, angle, s, tx, ty: the same draws whether the flips are warped or not
        draws = tf.random.stateless_uniform((batch, 6), seed=seed)
    if geometry == "warp":
        tensors["transforms"] = _transforms(config, draws, tf.shape(images)[1], tf.shape(images)[2])
    elif geometry == "flip":
        if config.flip in ("horizontal", "horizontal_and_vertical"):
            tensors["flip_x"] = draws[:, 0] < 0.5
        if config.flip in ("vertical", "horizontal_and_vertical"):
            tensors["flip_y"] = draws[:, 1] < 0.5
    if colour:
        colour_seed = tf.random.experimental.stateless_split(seed, 1)[0]
        u = 2.0 * tf.random.stateless_uniform((batch, 3), seed=colour_seed) - 1.0
        strength = tf.constant([config.brightness, config.contrast, config.saturation])
        tensors["colour"] = u * strength + tf.constant([0.0, 1.0, 1.0])  # shift d, factors k, u
    fill_mode = config.fill_mode if geometry == "warp" else None
    return (geometry, fill_mode, colour, _use_xla()), tensors


def _transforms(config, draws, height, width):
    """`(B, 8)` projective transforms (output -> input coordinates) of flip, rotation, crop."""
    batch = tf.shape(draws)[0]
    height, width = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    ones = tf.ones((batch,))
    flip_x = (tf.where(draws[:, 0] < 0.5, -ones, ones)
              if config.flip in ("horizontal", "horizontal_and_vertical") else ones)
    flip_y = (tf.where(draws[:, 1] < 0.5, -ones, ones)
              if config.flip in ("vertical", "horizontal_and_vertical") else ones)
    theta = (2.0 * draws[:, 2] - 1.0) * (config.max_rotation * math.pi / 180.0)
    low = math.sqrt(config.min_crop)
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
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


_XLA = {}


def _use_xla():
    """Whether XLA compiles on this machine's CPU (checked once)."""
    if "ok" not in _XLA:
        try:
            with tf.init_scope(), tf.device("/CPU:0"):
                tf.function(lambda v: v * 2.0, jit_compile=True)(tf.ones((2,)))
            _XLA["ok"] = True
        except Exception:  # noqa: BLE001 - any failure means: run the plain TF ops
            _XLA["ok"] = False
    return _XLA["ok"]


_KERNELS = {}


def _kernel(key):
    """The compiled batch function for `key = (geometry, fill_mode, colour, xla, mix)`.

    Order: scale to [0, 1], flips or warp, colour jitter and clip, mix. Without a warp all of
    it compiles into one function (one pass over the batch). A warp is compiled on its own and
    its result written out once: fused with what follows, XLA would recompute its gathers for
    every use (per colour channel of the jitter's grey level, per half of the mix).
    """
    if key not in _KERNELS:
        geometry, fill_mode, colour, xla, mix = key

        def scale(images, divisor):
            # As `to_float_tensor`; a run-time divisor keeps XLA from rewriting the division as
            # a multiplication by 1/255 (not bit-exact).
            return (tf.cast(images, tf.float32) / divisor if images.dtype == tf.uint8
                    else tf.cast(images, tf.float32))

        def finish(out, images, divisor, colour=None, weight=None):
            if colour is not None:
                out = _jitter(out, scale(images, divisor), colour)
            if mix is not None:
                half = tf.shape(out)[0] // 2
                a, b = out[:half], out[half:]
                if mix == "swap":
                    a, b = b, a
                out = a * (1.0 - weight) + b * weight  # each half read once
            return out

        def compiled(fn):
            return tf.function(fn, jit_compile=xla, reduce_retracing=True)

        if geometry == "warp":
            warp = compiled(lambda images, divisor, transforms: _warp(
                images, divisor, transforms, fill_mode, xla))
            rest = compiled(finish) if colour or mix else None

            def run(images, divisor, transforms=None, flip_x=None, flip_y=None, colour=None,
                    weight=None):
                out = warp(images, divisor, transforms)
                return out if rest is None else rest(out, images, divisor, colour, weight)
        else:
            @compiled
            def run(images, divisor, transforms=None, flip_x=None, flip_y=None, colour=None,
                    weight=None):
                out = images  # flipped as stored (uint8: 1-byte reads), scaled once after
                if flip_y is not None:
                    out = _flip_rows(out, flip_y)
                if flip_x is not None:
                    out = tf.where(flip_x[:, None, None, None], tf.reverse(out, [2]), out)
                return finish(scale(out, divisor), images, divisor, colour, weight)
        _KERNELS[key] = run
    return _KERNELS[key]


def _flip_rows(images, mask):
    """Vertical flips of the images where `mask` `(B,)` is true, as a gather of whole rows.

    The same images as `tf.where(mask, tf.reverse(images, [1]), images)`; compiled by XLA,
    that select over reversed rows costs about as much as the rest of a mixing batch, the row
    gather (contiguous copies) next to nothing.
    """
    shape = tf.shape(images)
    batch, height = shape[0], shape[1]
    rows = tf.range(height)[None, :]
    source = tf.where(mask[:, None], height - 1 - rows, rows) + tf.range(batch)[:, None] * height
    flat = tf.reshape(images, tf.concat([[batch * height], shape[2:]], 0))
    return tf.reshape(tf.gather(flat, tf.reshape(source, [-1])), shape)


def _jitter(images, source, colour):
    """`clip(m + d + k * ((1 - u) * g + u * x - m), 0, 1)` per image: `g` the pixel's grey
    level, `m` the mean grey level of `source` (the image before flips and warp),
    `colour[:, 0:3]` = `(d, k, u)`."""
    def grey(x):
        return x[..., 0:1] * _LUMA[0] + x[..., 1:2] * _LUMA[1] + x[..., 2:3] * _LUMA[2]

    mean = tf.reduce_mean(grey(source), axis=(1, 2, 3), keepdims=True)
    shift, factor, saturation = (colour[:, i, None, None, None] for i in range(3))
    blend = (1.0 - saturation) * grey(images) + saturation * images
    return tf.clip_by_value(mean + shift + factor * (blend - mean), 0.0, 1.0)


def _warp(images, divisor, transforms, fill_mode, xla):
    """Bilinear projective warp of `images` (`(B, 8)` transforms, output -> input); float32
    out, uint8 divided by `divisor` as it is read.

    Without XLA: `tf.raw_ops.ImageProjectiveTransformV3`. With XLA: the same sampling written
    as gathers (one fused loop over the output pixels): input coordinates
    `(a0 x + a1 y + a2, b0 x + b1 y + b2)`, mapped into the image by `fill_mode` as that op
    does, then the four neighbours weighted by their distances. After the mapping every
    neighbour with a non-zero weight lies inside the image, except with `"constant"`, where the
    image is read through a border of zeros.
    """
    if images.dtype == tf.uint8 and not xla:
        images = tf.cast(images, tf.float32) / divisor
    if not xla:
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode=fill_mode.upper())
    batch, height, width, channels = tf.unstack(tf.shape(images))
    t = transforms[:, :, None, None]
    xs = tf.cast(tf.range(width), tf.float32)[None, None, :]
    ys = tf.cast(tf.range(height), tf.float32)[None, :, None]
    x = _map_coordinate(t[:, 0] * xs + t[:, 1] * ys + t[:, 2], width, fill_mode)
    y = _map_coordinate(t[:, 3] * xs + t[:, 4] * ys + t[:, 5], height, fill_mode)
    pad = 0
    if fill_mode == "constant":  # outside [-1, n]: all weight on zeros, as at -1 or n
        pad = 1
        images = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
        x = tf.clip_by_value(x, -1.0, tf.cast(width, tf.float32))
        y = tf.clip_by_value(y, -1.0, tf.cast(height, tf.float32))
    x_floor, y_floor = tf.floor(x), tf.floor(y)
    x_ceil, y_ceil = x_floor + 1.0, y_floor + 1.0
    rows, cols = height + 2 * pad, width + 2 * pad
    flat = tf.reshape(images, (-1, channels))
    base = tf.range(batch)[:, None, None] * (rows * cols)

    def read(row, col):  # a neighbour past the last row / column only ever has weight 0
        r = tf.minimum(tf.cast(row, tf.int32) + pad, rows - 1)
        c = tf.minimum(tf.cast(col, tf.int32) + pad, cols - 1)
        value = tf.gather(flat, base + r * cols + c)
        return tf.cast(value, tf.float32) / divisor if value.dtype == tf.uint8 else tf.cast(
            value, tf.float32)

    wx0, wx1 = (x_ceil - x)[..., None], (x - x_floor)[..., None]
    top = wx0 * read(y_floor, x_floor) + wx1 * read(y_floor, x_ceil)
    bottom = wx0 * read(y_ceil, x_floor) + wx1 * read(y_ceil, x_ceil)
    return (y_ceil - y)[..., None] * top + (y - y_floor)[..., None] * bottom


def _map_coordinate(v, size, fill_mode):
    """Maps input coordinates outside `[0, size - 1]` back into it, as the TensorFlow op does."""
    n = tf.cast(size, tf.float32)
    if fill_mode == "constant":
        return v
    if fill_mode == "reflect":  # [abcd] -> [dcba|abcd|dcba]
        period = 2.0 * n
        low = v + period * tf.floor(-v / period)
        low = tf.where(low < -n, low + period, -low - 1.0)
        high = v - period * tf.floor(v / period)
        high = tf.where(high >= n, period - high - 1.0, high)
        v = tf.where(v < 0.0, low, tf.where(v > n - 1.0, high, v))
    elif fill_mode == "wrap":  # [abcd] -> [abcd|abcd|abcd] (the op's own arithmetic)
        span = tf.maximum(n - 1.0, 1.0)
        low = v + n * (tf.floor(-v / span) + 1.0)
        high = v - n * tf.floor(v / span)
        v = tf.where(v < 0.0, low, tf.where(v > n - 1.0, high, v))
    v = tf.where(n <= 1.0, tf.zeros_like(v), v)
    return tf.clip_by_value(v, 0.0, n - 1.0)
