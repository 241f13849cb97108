"""Image folders: one sub-folder of PNG/JPEG files per class, optionally under train/val/test."""

import os

import numpy as np
from PIL import Image

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.image_files import ImageFiles
from kerasimb.utils.validation import check_bool, check_float, check_int, check_str

# File name endings that are read as images (compared case-insensitively); others are ignored.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Sub-folder names that mark a pre-split layout; `val` may also be spelled `validation`.
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}

_GREY_MODES = ("1", "L", "LA")
_WIDE_GREY_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")


@kerasimb_export("kerasimb.data.load_folder", serializable=False)
def load_folder(
    path,
    image_size=None,
    val_fraction=0.15,
    test_fraction=0.15,
    seed=0,
    grayscale=None,
    file_backed=False,
    verify_images=False,
):
    """Loads a folder of PNG/JPEG images with one sub-folder per class.

    Two layouts are read:

    - flat: `path/<class>/<image>`. The images are split per class (stratified, seeded) into
      test (`test_fraction` of each class), validation (`val_fraction`) and train (the rest);
      each count is rounded half up, and a class always keeps at least one training image.
    - pre-split: `path/train/<class>/...`, `path/test/<class>/...` and `path/val/<class>/...`
      (or `validation/`); used as given. When `val/` is absent, a stratified `val_fraction` of
      `train/` becomes the validation split.

    Labels follow the sorted class folder names (of `train/` in the pre-split layout; `val/` and
    `test/` may lack classes but not add any). Only files ending in `.png`, `.jpg` or `.jpeg`
    (any case) are read, within each class folder (not below it); other files and hidden
    entries (names starting with `.`) are ignored. Images in one split keep the order of their
    sorted file names, class by class.

    Colour: an image is greyscale when its mode is greyscale (`1`, `L`, `LA`, 16-bit) or when
    its three colour channels are identical. With `grayscale=None` the images keep one channel
    if every image is greyscale and are all converted to RGB otherwise; `True` converts all to
    one channel (ITU-R 601-2 luma), `False` all to RGB. Alpha is dropped; 16-bit greyscale is
    scaled to 8 bits (divided by 257).

    File-backed (`file_backed=True`, for folders too large to hold in memory): the train split
    is an `ImageFiles` (paths only); the pipelines (`sampled_dataset`, `balanced_mixup_dataset`,
    `classification_dataset`, ...) read and decode only the files each batch draws. Validation
    and test are decoded into arrays with the same decoder (TensorFlow's: bilinear antialiased
    resize, `tf.io.decode_image` colour conversion), so their pixels can differ slightly from
    the in-memory loader's (Pillow). The channels come from the first image (one if it is
    greyscale) unless `grayscale` is given, and with `image_size=None` every image must have the
    first image's size (a file of another size stops training with an error naming it).

    Args:
        path: str or path-like. The folder.
        image_size: int >= 1 or `None`. Resize every image (bilinear) to `image_size` x
            `image_size`. Defaults to `None`: all images must then share one size.
        val_fraction: float in (0, 1). Share of each class put in the validation split when it
            is carved out. Defaults to `0.15`.
        test_fraction: float in (0, 1). Share of each class put in the test split (flat layout
            only); `val_fraction + test_fraction` must be below 1. Defaults to `0.15`.
        seed: int. Seeds the split. Defaults to `0`.
        grayscale: `None` or bool. Colour mode, as above. Defaults to `None`.
        file_backed: bool. Keep the train split on disk as an `ImageFiles`, as above.
            Defaults to `False`.
        verify_images: bool. With `file_backed=True`, decode every train file once while
            loading (slow on a large folder), so that a file damaged in its middle stops the
            load rather than training. Every file's start and end markers (PNG signature and
            IEND chunk, JPEG SOI and EOI) are checked in any case, reading only those bytes; the
            in-memory loader decodes every file anyway. Defaults to `False`.

    Returns:
        An `ImageDataset` named `"folder:<folder name>"` with uint8 images `(N, H, W, 1 or 3)`
        (the train split an `ImageFiles` of that shape when `file_backed=True`).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` is not a folder, has fewer than two class folders, a class folder
            with no images, a file that cannot be decoded, images of different sizes without
            `image_size`, or fractions that leave a split empty.
        TypeError: arguments of the wrong type.

    Example:

    >>> ds = load_folder("chest_xray", image_size=64)  # doctest: +SKIP
    >>> ds.class_names  # doctest: +SKIP
    ['NORMAL', 'PNEUMONIA']
    """
    path = check_str(path, "path", "a folder path", allow_path=True)
    root = os.path.expanduser(path)
    if not os.path.exists(root):
        raise FileNotFoundError(
            "Invalid value received for argument `path`. Expected an existing folder with one "
            f"sub-folder of images per class. Received: path={path!r}, which does not exist"
        )
    if not os.path.isdir(root):
        raise ValueError(
            "Invalid value received for argument `path`. Expected a folder with one sub-folder "
            f"of images per class. Received: path={path!r}, which is a file"
        )
    if image_size is not None:
        image_size = check_int(image_size, "image_size", minimum=1)
    val_fraction = check_float(val_fraction, "val_fraction", 0.0, 1.0, False, False)
    test_fraction = check_float(test_fraction, "test_fraction", 0.0, 1.0, False, False)
    seed = check_int(seed, "seed", minimum=0)
    if grayscale is not None and not isinstance(grayscale, bool):
        raise TypeError(
            "Invalid type received for argument `grayscale`. Expected None, True or False. "
            f"Received: grayscale={grayscale!r}"
        )
    file_backed = check_bool(file_backed, "file_backed")
    verify_images = check_bool(verify_images, "verify_images")

    split_dirs = _split_layout(root)
    if split_dirs is None:
        if val_fraction + test_fraction >= 1.0:
            raise ValueError(
                "Invalid value received for arguments `val_fraction` and `test_fraction`. "
                "Expected their sum to be below 1, to leave training images. Received: "
                f"val_fraction={val_fraction}, test_fraction={test_fraction}"
            )
        class_names = _class_folders(root, path)
        files, labels = _list_images(root, class_names, class_names)
    else:
        class_names = _class_folders(split_dirs["train"], split_dirs["train"])
        listed = {
            split: _list_images(folder, _class_folders(folder, folder, minimum=1), class_names)
            for split, folder in split_dirs.items()
            if folder is not None
        }
        files = [f for split in listed.values() for f in split[0]]
        labels = np.concatenate([split[1] for split in listed.values()])

    check_image_file_ends(files)
    # Split first (cheap, and may fail on too-small classes), then decode.
    if split_dirs is None:
        train, test, val = stratified_split(
            labels, (test_fraction, val_fraction), seed, ("test_fraction", "val_fraction")
        )
        parts = {"train": train, "val": val, "test": test}
    else:
        bounds = np.cumsum([0] + [len(listed[s][1]) for s in listed])
        parts = {s: np.arange(bounds[i], bounds[i + 1]) for i, s in enumerate(listed)}
        if "val" not in parts:
            train_labels = labels[parts["train"]]
            keep, val = stratified_split(train_labels, (val_fraction,), seed, ("val_fraction",))
            parts["val"] = parts["train"][val]
            parts["train"] = parts["train"][keep]
    if file_backed:
        channels = None if grayscale is None else (1 if grayscale else 3)
        images = ImageFiles(files, image_size, channels)
        splits = {s: images[parts[s]] for s in parts}
        splits["val"], splits["test"] = np.asarray(splits["val"]), np.asarray(splits["test"])
        if verify_images:
            splits["train"].verify()
    else:
        images = _decode_all(files, image_size, grayscale)
        splits = {s: images[parts[s]] for s in parts}
    return ImageDataset(
        train=(splits["train"], labels[parts["train"]]),
        val=(splits["val"], labels[parts["val"]]),
        test=(splits["test"], labels[parts["test"]]),
        class_names=class_names,
        name=f"folder:{os.path.basename(os.path.normpath(os.path.abspath(root)))}",
        paths={s: [os.path.relpath(files[i], root).replace(os.sep, "/") for i in parts[s]]
               for s in parts},
    )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC


def check_image_file_ends(files):
    """Raises `ValueError` naming the first file that is not a whole PNG or JPEG, judged from
    its first and last bytes only: a PNG signature and a final IEND chunk, or a JPEG start of
    image (FF D8) and end of image (FF D9) marker. A truncated file is caught here, while
    loading, instead of by TensorFlow at the first batch that draws it."""
    for file in files:
        try:
            with open(file, "rb") as f:
                head = f.read(8)
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(size - len(_PNG_END), 0))
                tail = f.read()
        except OSError as error:
            raise ValueError(f"Invalid value received for argument `path`. Expected readable "
                             f"image files. Received: {file!r}, which could not be read: "
                             f"{error.strerror or error}") from None
        if head == _PNG_SIGNATURE:
            problem = None if tail == _PNG_END else (
                "a PNG without its IEND chunk at the end of the file (truncated?)")
        elif head[:2] == b"\xff\xd8":
            problem = None if tail[-2:] == b"\xff\xd9" else (
                "a JPEG without its end-of-image marker FFD9 at the end of the file (truncated?)")
        else:
            problem = f"neither a PNG nor a JPEG (it starts with {head[:8]!r})"
        if problem:
            raise ValueError(
                "Invalid value received for argument `path`. Expected whole PNG or JPEG image "
                f"files. Received: {file!r}, {problem}; replace or remove the file")


def stratified_split(labels, fractions, seed=0, names=None):
    """Splits example indices per class: `(rest, part_1, ..., part_k)`, each sorted.

    For each class of `n` examples, in a seeded random order, the first
    `round_half_up(n * fractions[0])` go to `part_1`, the next `round_half_up(n * fractions[1])`
    to `part_2`, and so on; the rest stay in `rest`. When the parts would take every example of
    a class, the largest part (the last of equals) gives one back until the class keeps one.

    Args:
        labels: integer labels `(N,)`.
        fractions: sequence of floats in (0, 1).
        seed: int. Defaults to `0`.
        names: sequence of str or `None`. Argument names for the fractions, used in errors.

    Returns:
        A tuple of int64 index arrays, `len(fractions) + 1` of them.

    Raises:
        ValueError: a part ends up empty (too few examples for its fraction).

    Example:

    >>> labels = np.array([0] * 10 + [1] * 4)
    >>> rest, val = stratified_split(labels, (0.2,), seed=0)
    >>> np.bincount(labels[val]).tolist(), np.bincount(labels[rest]).tolist()
    ([2, 1], [8, 3])
    """
    labels = np.asarray(labels)
    names = list(names) if names is not None else [f"fractions[{i}]" for i in range(len(fractions))]
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n = len(members)
        counts = [int(np.floor(n * f + 0.5 + 1e-9)) for f in fractions]
        while sum(counts) > n - 1:
            largest = max(range(len(counts)), key=lambda i: (counts[i], i))
            counts[largest] -= 1
        start = 0
        for i, k in enumerate(counts):
            parts[i + 1].append(members[start : start + k])
            start += k
        parts[0].append(members[start:])
    parts = [
        np.sort(np.concatenate(p)).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts
    ]
    for i, part in enumerate(parts[1:]):
        if len(part) == 0:
            sizes = dict(zip(*(a.tolist() for a in np.unique(labels, return_counts=True))))
            raise ValueError(
                f"Invalid value received for argument `{names[i]}`. Expected a fraction that "
                f"selects at least one example for its split (rounded half up per class, "
                f"each class keeping one training example); class sizes are {sizes}. "
                f"Received: {names[i]}={fractions[i]}"
            )
    return tuple(parts)


def _visible_dirs(folder):
    return sorted(
        e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")
    )


def _split_layout(root):
    """Returns `{"train": dir, "val": dir or None, "test": dir}` when pre-split, else `None`."""
    found = {}
    entries = set(_visible_dirs(root))
    for split, names in SPLIT_FOLDERS.items():
        found[split] = next((os.path.join(root, n) for n in names if n in entries), None)
    if found["train"] is None or found["test"] is None:
        return None
    if not _visible_dirs(found["train"]):  # `train` holds images: it is a class called "train"
        return None
    return found


def _class_folders(folder, shown, minimum=2):
    names = _visible_dirs(folder)
    if len(names) < minimum:
        raise ValueError(
            "Invalid value received for argument `path`. Expected one sub-folder of images per "
            f"class, at least {minimum}. Received: {shown!r} with class folders {names}"
        )
    return names


def _list_images(folder, present, class_names):
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise ValueError(
            "Invalid value received for argument `path`. Expected the class folders of "
            f"{folder!r} to be among the training classes {class_names}. Received: extra class "
            f"folders {unknown}"
        )
    files, labels = [], []
    for name in present:
        class_dir = os.path.join(folder, name)
        found = sorted(
            e.path
            for e in os.scandir(class_dir)
            if e.is_file()
            and not e.name.startswith(".")
            and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not found:
            raise ValueError(
                "Invalid value received for argument `path`. Expected every class folder to hold "
                f"at least one image ({', '.join(IMAGE_EXTENSIONS)}). Received: class folder "
                f"{class_dir!r} with no images"
            )
        files.extend(found)
        labels.extend([class_names.index(name)] * len(found))
    return files, np.asarray(labels, dtype=np.int64)


def _decode_all(files, image_size, grayscale):
    decoded, grey = [], []
    first_size = None
    for file in files:
        image, is_grey = _decode(file, image_size)
        if first_size is None:
            first_size = (image.shape[:2], file)
        elif image.shape[:2] != first_size[0]:
            raise ValueError(
                "Invalid value received for argument `path`. Expected images of one size, or "
                "`image_size` to resize them. Received: "
                f"{first_size[1]!r} of height x width {first_size[0]} and {file!r} of "
                f"{image.shape[:2]}"
            )
        decoded.append(image)
        grey.append(is_grey)
    one_channel = all(grey) if grayscale is None else grayscale
    height, width = decoded[0].shape[:2]
    out = np.empty((len(decoded), height, width, 1 if one_channel else 3), np.uint8)
    for i, (image, is_grey) in enumerate(zip(decoded, grey)):
        if one_channel:
            if image.ndim == 2:
                out[i, ..., 0] = image
            elif is_grey:
                out[i, ..., 0] = image[..., 0]
            else:
                out[i, ..., 0] = np.asarray(Image.fromarray(image, "RGB").convert("L"))
        else:
            out[i] = image[..., None] if image.ndim == 2 else image
    return out


@kerasimb_export("kerasimb.data.read_image", serializable=False)
def read_image(path, image_size=None, channels=None):
    """Decodes one PNG/JPEG file as `load_folder` decodes a folder's images: uint8 `(H, W, C)`.

    Args:
        path: str or path-like.
        image_size: `None` (the file's own size), an int (square) or `(height, width)`: resized
            bilinearly (Pillow) when the file's size differs.
        channels: `None` (1 for a greyscale image, else 3), `1` (RGB converted to luma, ITU-R
            601-2) or `3` (grey repeated). Defaults to `None`.

    Raises:
        ValueError: a file that is not a readable image (the message names it), bad `channels`.

    Example:

    >>> import os, tempfile
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "x.png")
    >>> Image.fromarray(np.full((6, 4), 200, np.uint8)).save(path)
    >>> read_image(path, image_size=(3, 2), channels=3).shape
    (3, 2, 3)
    """
    if channels not in (None, 1, 3):
        raise ValueError("Invalid value received for argument `channels`. Expected None, 1 or 3. "
                         f"Received: channels={channels!r}")
    array, is_grey = _decode(os.fspath(path), image_size)
    if channels is None:
        channels = 1 if is_grey else 3
    if channels == 1:
        if array.ndim == 2:
            return array[..., None]
        if is_grey:
            return array[..., :1].copy()
        return np.asarray(Image.fromarray(array, "RGB").convert("L"))[..., None]
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def _decode(file, image_size):
    """Returns `(array, is_grey)`: `(H, W)` uint8 for greyscale modes, else `(H, W, 3)` uint8.
    `image_size`: `None`, an int (square) or `(height, width)`."""
    try:
        with Image.open(file) as image:
            image.load()
            if image.mode in _WIDE_GREY_MODES:
                wide = np.asarray(image).astype(np.int64)
                if wide.size and (wide.min() < 0 or wide.max() > 65535):
                    raise ValueError(f"pixel values outside 0-65535 in mode {image.mode}")
                image = Image.fromarray(np.round(wide / 257.0).astype(np.uint8), "L")
            elif image.mode in _GREY_MODES:
                image = image.convert("L")
            else:
                image = image.convert("RGB")
            if image_size is not None:
                height, width = ((image_size, image_size) if np.isscalar(image_size)
                                 else tuple(image_size))
                if (image.height, image.width) != (height, width):
                    image = image.resize((width, height), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(
            "Invalid value received for argument `path`. Expected readable PNG/JPEG images. "
            f"Received: {file!r}, which could not be decoded: {error}"
        ) from None
    if array.ndim == 2:
        return array, True
    is_grey = np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(
        array[..., 1], array[..., 2]
    )
    return array, bool(is_grey)
