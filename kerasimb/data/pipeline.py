"""The plain tf.data pipeline: shuffled (instance-sampled) or in-order batches of one split."""

import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.data.augment import prepare_batch, resolve_augment
from kerasimb.data.image_files import ImageFiles
from kerasimb.data.sampling import resolve_seed, step_seeds
from kerasimb.utils.images import to_float_tensor
from kerasimb.utils.validation import check_images_labels, check_int, check_labels


@kerasimb_export("kerasimb.data.classification_dataset", serializable=False)
def classification_dataset(
    x,
    y,
    num_classes,
    batch_size=32,
    shuffle=True,
    repeat=False,
    drop_remainder=False,
    seed=None,
    augment=None,
):
    """Batches `(x, y)` as `(images float32, one-hot labels float32)`: instance-based sampling.

    Each epoch visits every example once, in a new seeded order when `shuffle=True` (this is
    "instance-based sampling", q = 1). Only an index array is shuffled; the images are gathered
    per batch, so memory stays one copy of the images. uint8 pixels are scaled to [0, 1]; float
    images are passed through unchanged.

    With `augment`, every batch is augmented after it is gathered (and, for `ImageFiles`,
    decoded), with a stateless seed derived from `seed` and a per-batch key that changes on
    every pass over the dataset (every epoch, also with `shuffle=False`): the same `seed` gives
    the same batches and the same augmentation.

    Args:
        x: images `(N, H, W, C)`, uint8 or float, or an `ImageFiles` (each batch's files are
            read and decoded in parallel when the batch is made).
        y: integer labels `(N,)` in `[0, num_classes)`.
        num_classes: int >= 2.
        batch_size: int >= 1. Defaults to `32`.
        shuffle: bool. Reshuffle every epoch. Defaults to `True`.
        repeat: bool. Repeat forever (pass `steps_per_epoch` to `fit`). Defaults to `False`.
        drop_remainder: bool. Drop the last partial batch. Defaults to `False`.
        seed: int or `None`. Shuffle and augmentation seed; the same seed gives the same
            batches. Defaults to `None`.
        augment: `None`, `"none"`, `"flip"` (random horizontal and vertical flips), `"standard"`
            (flips, ±15° rotation, crop-and-resize, colour jitter of RGB images), `True`
            (`augment_batch` defaults), a dict of `augment_batch` arguments or a callable
            `(images, seed) -> images`; see `resolve_augment`. Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `(images (B, H, W, C) float32, labels (B, num_classes) float32)`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((10, 4, 4, 1), "uint8"); y = np.arange(10) % 2
    >>> images, labels = next(iter(classification_dataset(x, y, 2, batch_size=4, seed=0)))
    >>> tuple(images.shape), tuple(labels.shape)
    ((4, 4, 4, 1), (4, 2))
    >>> x = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3)).astype("uint8")
    >>> first = next(iter(classification_dataset(x, y, 2, batch_size=4, seed=0, augment="flip")))
    >>> again = next(iter(classification_dataset(x, y, 2, batch_size=4, seed=0, augment="flip")))
    >>> bool(np.array_equal(first[0], again[0]))   # same seed, same batches and flips
    True
    """
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    augment_fn = resolve_augment(augment)
    if isinstance(x, ImageFiles):  # file-backed: only each batch's files are read (no decode here)
        y = check_labels(y, num_classes)
        if len(x) != len(y):
            raise ValueError("Expected `x` and `y` to hold the same number of examples. "
                             f"Received: {len(x)} image files and {len(y)} labels")
    else:
        x, y = check_images_labels(x, y, num_classes)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if len(x) == 0:
        raise ValueError("Invalid value received for argument `x`. Expected at least one example. Received: 0")
    labels = tf.convert_to_tensor(y, tf.int32)
    if augment_fn is not None:
        seed = resolve_seed(seed)  # the shuffle order and the augmentation both follow it
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment_fn is not None:
        # One random key per batch, a new sequence on every pass over the dataset (every epoch
        # of `fit`), reproducible from `seed`; the batch's augmentation seed derives from it.
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, keys)

    def finish(images, state):
        label, *key = state  # `key` only with augmentation
        if augment_fn is not None:
            images = prepare_batch(images, augment_fn, step_seeds(seed, key[0], 1)[0])
        else:
            images = to_float_tensor(images)
        return images, tf.one_hot(label, num_classes, dtype=tf.float32)

    if isinstance(x, ImageFiles):
        ds = x.gather_batches(ds.map(lambda index, *key: (index, (tf.gather(labels, index), *key))))
        ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)
    images = tf.convert_to_tensor(x)

    def gather(index, *key):
        return finish(tf.gather(images, index), (tf.gather(labels, index), *key))

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(num_examples, batch_size):
    """Batches needed to see `num_examples` once: ceil(num_examples / batch_size)."""
    return int(np.ceil(num_examples / batch_size))
