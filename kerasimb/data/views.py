"""Two augmented views per image, for contrastive training (AdUni, SupCon-style models)."""

import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.data.augment import augment_batch, resolve_augment
from kerasimb.data.sampling import (
    IndexTable,
    check_pipeline_inputs,
    map_batches,
    resolve_seed,
    resolve_weights,
    step_seeds,
)
from kerasimb.utils.images import to_float_tensor
from kerasimb.utils.validation import check_float


@kerasimb_export("kerasimb.data.view_augment", serializable=False)
def view_augment(images, seed, brightness=0.2, contrast=0.2, **affine):
    """One random view of a batch: `augment_batch` (flips, rotation, crop-and-resize) plus colour
    jitter (a random brightness shift and contrast scaling per image), clipped to [0, 1].

    AdUni's views (Cong et al., 2022) use random affine transforms, horizontal and vertical flips
    and colour jitter; this is that recipe on `augment_batch`'s single affine warp. Brightness:
    x + δ, δ ~ U(−b, b); contrast: mean + (x − mean)·c, c ~ U(1 − k, 1 + k), per image.

    Args:
        images: float tensor `(B, H, W, C)` in [0, 1].
        seed: int tensor `(2,)`, a stateless seed.
        brightness: float >= 0. b. Defaults to `0.2`.
        contrast: float in [0, 1]. k. Defaults to `0.2`.
        **affine: passed to `augment_batch` (`flip`, `max_rotation`, `min_crop`, `fill_mode`).

    Returns:
        Float32 tensor shaped like `images`, in [0, 1].

    Example:

    >>> import numpy as np
    >>> x = np.full((2, 8, 8, 1), 0.5, "float32")
    >>> out = view_augment(x, [0, 1])
    >>> tuple(out.shape), bool(np.all((out >= 0) & (out <= 1)))
    ((2, 8, 8, 1), True)
    """
    brightness = check_float(brightness, "brightness", minimum=0.0)
    contrast = check_float(contrast, "contrast", minimum=0.0, maximum=1.0)
    affine_seed, colour_seed = tf.unstack(tf.random.experimental.stateless_split(
        tf.cast(tf.convert_to_tensor(seed), tf.int64), 2))
    images = augment_batch(images, affine_seed, **affine)
    batch = tf.shape(images)[0]
    draws = tf.random.stateless_uniform((batch, 2), seed=colour_seed)
    delta = (2.0 * draws[:, 0] - 1.0) * brightness
    factor = 1.0 + (2.0 * draws[:, 1] - 1.0) * contrast
    mean = tf.reduce_mean(images, axis=(1, 2, 3), keepdims=True)
    images = mean + (images - mean) * factor[:, None, None, None] + delta[:, None, None, None]
    return tf.clip_by_value(images, 0.0, 1.0)


@kerasimb_export("kerasimb.data.two_view_dataset", serializable=False)
def two_view_dataset(x, y, batch_size=32, augment=True, seed=None, num_classes=None, q=None):
    """Batches of two independently augmented views per image: `((view1, view2), labels)`.

    Every batch draws B images, then augments the batch twice with independent stateless
    seeds (derived from `(seed, step)`), as in SupCon / PaCo / AdUni training (each image gives
    two views). Images are drawn either

    - `q=None` (default): instance sampling without replacement, a new seeded order every
      epoch (like `classification_dataset`), the last partial batch kept; or
    - `q` a float or `data.SamplingWeights`: class-aware sampling p_j ∝ n_j^q (`q=1` instance
      with replacement, `0.5` square-root, `0` class / up-sampling; pass a `SamplingWeights` and
      `callbacks.ProgressiveSampling` for progressive sampling, the paper's Table 2 samplers).
      This pipeline is infinite: pass `steps_per_epoch` to `fit`.

    Args:
        x: images `(N, H, W, C)`, uint8 (scaled to [0, 1]) or float, or an `ImageFiles` (only
            the drawn files are read and decoded, per batch, in parallel).
        y: integer labels `(N,)`.
        batch_size: int >= 1. Defaults to `32`.
        augment: `True` (`view_augment`: flips, rotation, crop, colour jitter), `False` / `None`
            (identical views), a dict of `view_augment` arguments, or a callable
            `(images, seed) -> images`. Defaults to `True`.
        seed: int >= 0 or `None`. The same seed gives the same batches and views.
            Defaults to `None`.
        num_classes: int >= 2 or `None` (`max(y) + 1`). Defaults to `None`.
        q: `None`, a float, or a `SamplingWeights`. Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `((view1 (B, H, W, C), view2 (B, H, W, C)) float32, labels
        (B, K) float32 one-hot)`; repeated epochs when `q` is `None`, infinite otherwise.

    Raises:
        ValueError: bad shapes or labels, a class with no examples, `batch_size` < 1.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 255, (10, 8, 8, 1)).astype("uint8")
    >>> (v1, v2), labels = next(iter(two_view_dataset(x, np.arange(10) % 2, 4, seed=0)))
    >>> tuple(v1.shape), tuple(labels.shape), bool(np.allclose(v1, v2))
    ((4, 8, 8, 1), (4, 2), False)
    """
    x, y, num_classes, batch_size, counts = check_pipeline_inputs(x, y, num_classes, batch_size)
    if augment is True:
        augment_fn = view_augment
    elif isinstance(augment, dict):
        kwargs = dict(augment)
        view_augment(tf.zeros((1, 4, 4, 1)), [0, 0], **kwargs)  # validate now
        augment_fn = lambda images, s: view_augment(images, s, **kwargs)  # noqa: E731
    else:
        augment_fn = resolve_augment(augment)
    seed = resolve_seed(seed)
    labels = tf.convert_to_tensor(y, tf.int64)

    def finish(images, state):
        step, index = state
        seeds = step_seeds(seed, step, 2)
        batch = to_float_tensor(images)
        if augment_fn is None:
            first, second = batch, batch
        else:
            first, second = augment_fn(batch, seeds[0]), augment_fn(batch, seeds[1])
        return (first, second), tf.one_hot(tf.gather(labels, index), num_classes,
                                          dtype=tf.float32)

    if q is None:
        index = tf.data.Dataset.range(len(y)).shuffle(
            len(y), seed=seed, reshuffle_each_iteration=True).batch(batch_size).repeat()
        return map_batches(index.enumerate(), lambda step, index: (index, (step, index)), finish, x)
    weights = resolve_weights(q, counts)
    table = IndexTable(y, num_classes)

    def draw(step):
        index, _ = table.draw(weights.probabilities_at(step), batch_size, step_seeds(seed + 1, step, 1)[0])
        return index, (step, index)

    return map_batches(tf.data.Dataset.counter(), draw, finish, x)
