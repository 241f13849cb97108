"""`ImageFiles`: images kept on disk as PNG/JPEG files and decoded only when a pipeline draws them.

The sampling and mixing pipelines (`sampled_dataset`, `balanced_mixup_dataset`, `mixup_dataset`,
`cutmix_dataset`, `remix_dataset`, `two_view_dataset`) and `classification_dataset` accept an
`ImageFiles` wherever they accept an image array. They draw a batch of indices first, then read
and decode only those files (`tf.io.read_file` + `tf.io.decode_image` in a parallel `map`), so
memory is O(N) paths and labels, never O(N) images.
"""

import os
import re

import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_int

_DECODE_BATCH = 256


def _as_path_bytes(paths):
    """Returns `(paths, lengths)`: a 1-D numpy bytes array of the (filesystem-encoded) paths and
    their lengths in bytes."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            "Invalid type received for argument `paths`. Expected a 1-D sequence of file paths. "
            f"Received: paths={paths!r} (a single path)"
        )
    if isinstance(paths, tf.Tensor):
        paths = paths.numpy()
    if isinstance(paths, np.ndarray) and paths.dtype.kind == "S":
        array = paths
    elif isinstance(paths, np.ndarray) and paths.dtype.kind == "U":
        array = np.char.encode(paths, "utf-8")
    else:
        try:
            array = np.array([os.fsencode(p) for p in np.asarray(paths, dtype=object).ravel()]
                             if np.ndim(paths) == 1 else paths, dtype=np.bytes_)
        except TypeError as error:
            raise TypeError(
                "Invalid type received for argument `paths`. Expected a 1-D sequence of file "
                f"paths (str, bytes or path-like). Received: {error}"
            ) from None
    if array.ndim != 1:
        raise ValueError(
            "Invalid value received for argument `paths`. Expected a 1-D sequence of file paths. "
            f"Received: paths with shape {array.shape}"
        )
    lengths = np.char.str_len(array).astype(np.int64)
    if array.size and np.any(lengths == 0):
        first = int(np.flatnonzero(lengths == 0)[0])
        raise ValueError(
            "Invalid value received for argument `paths`. Expected non-empty file paths. "
            f"Received: an empty path at position {first}"
        )
    return array, lengths


def _image_size(image_size):
    if image_size is None:
        return None
    if isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        return (check_int(image_size[0], "image_size", minimum=1),
                check_int(image_size[1], "image_size", minimum=1))
    if isinstance(image_size, (tuple, list)):
        raise ValueError(
            "Invalid value received for argument `image_size`. Expected an int or a pair "
            f"(height, width). Received: image_size={image_size!r}"
        )
    size = check_int(image_size, "image_size", minimum=1)
    return (size, size)


@kerasimb_export("kerasimb.data.ImageFiles", serializable=False)
class ImageFiles:
    """Images given as PNG/JPEG file paths, decoded only when drawn.

    Pass an `ImageFiles` as `x` to the sampling pipelines: they draw the indices of a batch,
    then read and decode only the drawn files, in parallel (`tf.io.read_file` and
    `tf.io.decode_image` in a `map` with `num_parallel_calls`). Memory is the paths (O(N));
    images are never all loaded. `np.asarray(files)` decodes every file (for small splits such
    as validation and test), with the same decoder, so it equals what the pipelines read.

    Every image is decoded to uint8 with `channels` channels (`tf.io.decode_image` converts
    greyscale to RGB or RGB to greyscale, drops alpha, and scales 16-bit PNG to 8 bits). With
    `image_size` given, images of another size are resized (bilinear, antialiased, rounded back
    to uint8); with `image_size=None` the first file's size is used and every file must have it.
    A file that is missing, unreadable, not a PNG/JPEG (or GIF/BMP) image, or (without
    `image_size`) of another size stops the pipeline with an error naming the file;
    `verify()` checks every file up front.

    Indexing: `files[i]` decodes one image `(H, W, C)`; a slice, an integer array or a boolean
    mask gives an `ImageFiles` holding those paths (nothing is decoded).

    Args:
        paths: 1-D sequence of file paths (str, bytes, path-like; a list, a numpy array or a
            string tensor).
        image_size: int, a pair `(height, width)`, or `None` (the first file's size).
            Defaults to `None`.
        channels: `1`, `3` or `None` (1 if the first file is greyscale, else 3).
            Defaults to `None`.

    Attributes:
        shape: tuple `(N, H, W, C)`, like an image array.
        dtype: `numpy.uint8`.
        image_shape: tuple `(H, W, C)`.
        paths: numpy bytes array `(N,)`.

    Raises:
        TypeError: `paths` is not a sequence of paths.
        ValueError: `paths` is not 1-D or holds an empty path, a bad `image_size` or
            `channels`, or (when they must be inferred) the first file cannot be decoded.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(4):
    ...     Image.fromarray(np.full((6, 6), 60 * i, "uint8")).save(f"{folder}/{i}.png")
    >>> files = ImageFiles([f"{folder}/{i}.png" for i in range(4)])
    >>> files.shape
    (4, 6, 6, 1)
    >>> int(files[2][0, 0, 0])
    120
    >>> from kerasimb.data import sampled_dataset
    >>> ds = sampled_dataset(files, [0, 0, 0, 1], q=0.0, batch_size=8, seed=0)
    >>> images, labels = next(iter(ds))        # only the 8 drawn files are read
    >>> pixels = np.round(images.numpy()[:, 0, 0, 0] * 255)
    >>> tuple(images.shape), bool(np.all((pixels == 180) == (labels.numpy()[:, 1] == 1)))
    ((8, 6, 6, 1), True)
    """

    def __init__(self, paths, image_size=None, channels=None):
        self._paths, self._lengths = _as_path_bytes(paths)
        size = _image_size(image_size)
        if channels is not None:
            if isinstance(channels, bool) or channels not in (1, 3):
                raise ValueError(
                    "Invalid value received for argument `channels`. Expected 1, 3 or None. "
                    f"Received: channels={channels!r}"
                )
            channels = int(channels)
        if size is None or channels is None:
            if len(self._paths) == 0:
                raise ValueError(
                    "Invalid value received for argument `paths`. Expected at least one file to "
                    "infer `image_size` and `channels` from, or both given. Received: no paths"
                )
            first = self._paths[0]
            try:
                image = tf.io.decode_image(tf.io.read_file(first), expand_animations=False)
            except (tf.errors.OpError, ValueError) as error:
                raise ValueError(
                    "Invalid value received for argument `paths`. Expected readable PNG/JPEG "
                    f"images. Received: {os.fsdecode(first)!r}, which could not be read or "
                    f"decoded: {getattr(error, 'message', error)}"
                ) from None
            if size is None:
                size = (int(image.shape[0]), int(image.shape[1]))
            if channels is None:
                channels = 1 if int(image.shape[2]) <= 2 else 3
        self._resize = image_size is not None
        self._size = size
        self._channels = channels
        self._table = None

    # --- Array-like view ---------------------------------------------------------------------

    @property
    def paths(self):
        return self._paths

    @property
    def image_shape(self):
        return (self._size[0], self._size[1], self._channels)

    @property
    def shape(self):
        return (len(self._paths), *self.image_shape)

    @property
    def dtype(self):
        return np.dtype(np.uint8)

    @property
    def ndim(self):
        return 4

    def __len__(self):
        return len(self._paths)

    def _like(self, index):
        out = object.__new__(ImageFiles)
        out._paths, out._size, out._channels = self._paths[index], self._size, self._channels
        out._lengths, out._resize, out._table = self._lengths[index], self._resize, None
        return out

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            position = int(index) + (len(self) if index < 0 else 0)
            if not 0 <= position < len(self):
                raise IndexError(f"index {index} is out of range for {len(self)} image files")
            return np.asarray(self._like(slice(position, position + 1)))[0]
        return self._like(index)

    def __array__(self, dtype=None, copy=None):
        images = self._decode_eager()
        return images if dtype is None else images.astype(dtype)

    def __repr__(self):
        return (f"ImageFiles({len(self)} files, image_shape={self.image_shape}, "
                f"first={os.fsdecode(self._paths[0]) if len(self) else None!r})")

    def verify(self):
        """Reads and decodes every file once; raises `ValueError` naming the first bad one.

        Returns:
            `self`, so that `ImageFiles(paths).verify()` chains.
        """
        self._decode_eager(keep=False)
        return self

    # --- tf.data ------------------------------------------------------------------------------

    def gather_paths(self, index):
        """Returns the paths of `index` `(B,)` int64 as a string tensor `(B,)`.

        All paths are held in one byte string (the fixed-width numpy bytes, built once):
        path `i` is `substr(blob, i * width, length[i])`. A string tensor of N paths would
        cost about 3 s and 170 MB at N = 1e6 to build; the blob costs 0.3 s and N * width bytes.
        """
        if self._table is None:
            with tf.init_scope():  # eager tensors, captured by the dataset functions
                self._table = (tf.constant(self._paths.tobytes()),
                               tf.constant(self._lengths, tf.int64))
        blob, lengths = self._table
        index = tf.cast(index, tf.int64)
        return tf.strings.substr(blob, index * self._paths.dtype.itemsize,
                                 tf.gather(lengths, index))

    def decode(self, path):
        """Reads and decodes one file (a scalar string tensor) to uint8 `(H, W, C)`."""
        height, width = self._size
        image = tf.io.decode_image(tf.io.read_file(path), channels=self._channels,
                                   dtype=tf.uint8, expand_animations=False)
        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
        if self._resize:
            image = tf.cond(same, lambda: image, lambda: tf.cast(tf.clip_by_value(tf.round(
                tf.image.resize(image, (height, width), "bilinear", antialias=True)), 0.0, 255.0),
                tf.uint8))
        else:
            tf.debugging.Assert(same, ["image of another size", tf.shape(image)])
        return tf.ensure_shape(image, self.image_shape)

    def load(self, paths):
        """A one-element dataset: the batch of files `paths` `(B,)` decoded to `(B, H, W, C)`.

        Files decode in parallel, in order. A file that fails stops iteration with a
        `tf.errors.InvalidArgumentError` naming it (the cause is logged as a warning).
        """
        paths = tf.convert_to_tensor(paths, tf.string)
        count = tf.size(paths, out_type=tf.int64)
        decoded = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda p: (p, self.decode(p)), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True).ignore_errors(log_warning=True)
        empty = tf.data.Dataset.from_tensors(
            (tf.zeros((0,), tf.string), tf.zeros((0, *self.image_shape), tf.uint8)))
        batch = decoded.batch(tf.maximum(count, 1)).concatenate(empty).take(1)
        return batch.map(lambda got, images: _check_loaded(paths, got, images, self._describe()))

    def gather_batches(self, ds):
        """Maps a dataset of `(index (B,), state)` to `(images (B, H, W, C) uint8, state)`.

        Only the drawn files are read; batches stay in order (`deterministic=True`). The result
        keeps the cardinality of `ds` (one batch of images per batch of indices): `interleave`
        alone would make it unknown, and `fit(steps_per_epoch=)` on a finite dataset of
        unknown size keeps one iterator across epochs, which runs dry after the first.
        """
        def load(index, state):
            shape = (index.shape[0], *self.image_shape)  # keeps a static batch size
            return self.load(self.gather_paths(index)).map(
                lambda images: (tf.ensure_shape(images, shape), state))

        cardinality = ds.cardinality()
        out = ds.interleave(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if cardinality >= 0 or cardinality == tf.data.INFINITE_CARDINALITY:
            out = out.apply(tf.data.experimental.assert_cardinality(cardinality))
        return out

    def _describe(self):
        height, width = self._size
        size = "" if self._resize else f", or not of height x width {height} x {width}"
        return f"(missing, unreadable or not a valid PNG/JPEG image{size})"

    def _decode_eager(self, keep=True):
        out = np.empty((len(self) if keep else 0, *self.image_shape), np.uint8)
        ds = tf.data.Dataset.range(len(self)).batch(_DECODE_BATCH)
        ds = ds.interleave(lambda index: self.load(self.gather_paths(index)),
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        start = 0
        try:
            for images in ds:
                if keep:
                    out[start:start + len(images)] = images.numpy()
                start += len(images)
        except tf.errors.InvalidArgumentError as error:
            found = re.search(r"Could not read or decode image file .*?\(missing[^)]*\)",
                              error.message)
            raise ValueError(
                "Invalid value received for argument `paths`. Expected readable PNG/JPEG images. "
                f"Received: {found.group(0) if found else error.message}"
            ) from None
        return out


def _check_loaded(paths, got, images, reason):
    """Asserts that every file of `paths` was decoded (`got` keeps the decoded ones, in order)."""
    expected, found = tf.size(paths), tf.size(got)
    # Order is kept, so the first position where `got` differs from `paths` is the first file
    # that failed (or position `found` when all of `got` matches).
    same = tf.equal(paths[:found], got)
    first = tf.reduce_min(tf.concat([tf.cast(tf.where(~same)[:, 0], tf.int32), [found]], 0))
    bad = tf.gather(paths, tf.minimum(first, expected - 1))
    message = tf.strings.join(["Could not read or decode image file ", bad, " ", reason])
    check = tf.debugging.Assert(tf.equal(found, expected), [message])
    with tf.control_dependencies([check]):
        return tf.identity(images)


def is_image_files(x):
    """Whether `x` is an `ImageFiles` (file-backed images)."""
    return isinstance(x, ImageFiles)

