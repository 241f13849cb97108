"""TensorFlow Datasets image classification sets, read from a prepared `data_dir`."""

import os
import urllib.parse

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.folder import stratified_split
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.resize import resize_images
from kerasimb.utils import network
from kerasimb.utils.validation import check_bool, check_float, check_int, check_str

# Seconds of the connection check to each host a dataset downloads from, before a download:
# no network then fails in seconds rather than after minutes of tfds' retries.
DOWNLOAD_CHECK_TIMEOUT = 3.0

# kerasimb split -> tfds split names tried in order when `split_map` does not name one.
DEFAULT_SPLITS = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}


@kerasimb_export("kerasimb.data.load_tfds", serializable=False)
def load_tfds(
    name,
    data_dir=None,
    download=False,
    image_size=None,
    split_map=None,
    val_fraction=0.15,
    test_fraction=0.15,
    seed=0,
):
    """Loads an image classification dataset of TensorFlow Datasets (`tfds`) into memory.

    The dataset must have an `image` feature and a `label` feature (a `ClassLabel`, whose names
    become the class names; a plain integer label gives names `"0"`..`"C-1"`). Nothing is
    downloaded unless `download=True`: a dataset that is not prepared in `data_dir` raises
    `FileNotFoundError` at once (rather than letting tfds try the network). With
    `download=True`, a short connection check to every host the dataset downloads from (the
    URLs registered with its builder; `utils.check_connection`, `DOWNLOAD_CHECK_TIMEOUT`
    seconds each) comes first: without a network the call fails within seconds with a
    `ConnectionError` instead of after minutes of tfds' download retries. A builder with no
    registered URL (one that generates its data locally) is prepared without a check.

    Splits: `train`, `validation` (or `val`) and `test` are used when the dataset has them.
    When it has no validation split, a stratified, seeded `val_fraction` of each training class
    becomes the validation split; likewise `test_fraction` when it has no test split (each
    count rounded half up, every class keeping one training example). `split_map` names the
    tfds split to use for any of `"train"`, `"val"`, `"test"`; any tfds split string works
    (`"train[:80%]"`, `"train+validation"`), and `None` as a value asks for the split to be
    carved from train.

    Args:
        name: str. The tfds name, optionally with config and version
            (`"mnist"`, `"pneumonia_mnist"`, `"cifar10:3.0.2"`).
        data_dir: str or `None`. Where tfds data is prepared. Defaults to `None` (tfds' own
            default: `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        download: bool. Download and prepare the dataset when it is not prepared (needs the
            network). Defaults to `False`.
        image_size: int >= 1 or `None`. Resize images (bilinear) to `image_size` x
            `image_size`; needed when the images differ in size. Defaults to `None`.
        split_map: dict or `None`. Maps `"train"`, `"val"`, `"test"` to tfds split strings
            (or `None` to carve from train). Defaults to `None`.
        val_fraction: float in (0, 1). Share of train carved out as validation when needed.
            Defaults to `0.15`.
        test_fraction: float in (0, 1). Share of train carved out as test when needed.
            Defaults to `0.15`.
        seed: int. Seeds the carving. Defaults to `0`.

    Returns:
        An `ImageDataset` named `"tfds:<name>"`.

    Raises:
        ValueError: an unknown dataset, missing `image`/`label` features, an unknown split
            name, bad `split_map` keys, or images of different sizes without `image_size`.
        FileNotFoundError: the dataset is not prepared in `data_dir` and `download=False`.
        ConnectionError: the dataset is not prepared, `download=True` and the download host
            cannot be reached.
        TypeError: arguments of the wrong type.
        ImportError: `tensorflow_datasets` is not installed.

    Example:

    >>> ds = load_tfds("mnist", data_dir="~/tensorflow_datasets")  # doctest: +SKIP
    >>> ds.num_classes, ds.image_shape  # doctest: +SKIP
    (10, (28, 28, 1))
    """
    name = check_str(name, "name", "a tfds dataset name")
    download = check_bool(download, "download")
    if image_size is not None:
        image_size = check_int(image_size, "image_size", minimum=1)
    val_fraction = check_float(val_fraction, "val_fraction", 0.0, 1.0, False, False)
    test_fraction = check_float(test_fraction, "test_fraction", 0.0, 1.0, False, False)
    seed = check_int(seed, "seed", minimum=0)
    split_map = _check_split_map(split_map)
    if isinstance(data_dir, str):
        data_dir = os.path.expanduser(data_dir)
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - a dependency in setup.cfg
        raise ImportError(
            "`load_tfds` needs `tensorflow_datasets`: pip install tensorflow-datasets"
        ) from error

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except (ValueError, AssertionError, KeyError) as error:  # DatasetNotFoundError is a ValueError
        first_line = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise ValueError(
            "Invalid value received for argument `name`. Expected the name of a TensorFlow "
            "Datasets dataset, optionally with `/config` and `:version` (see "
            f"`tfds.list_builders()`). Received: name={name!r} "
            f"({first_line})"
        ) from None
    except ImportError as error:  # e.g. `huggingface:<name>` without `huggingface_hub`
        raise ValueError(
            "Invalid value received for argument `name`. Expected a dataset whose tfds builder "
            f"can be imported. Received: name={name!r}, whose builder needs a package that is "
            f"not installed ({error})"
        ) from None
    if not builder.is_prepared():
        if not download:
            raise FileNotFoundError(
                f"TensorFlow Datasets dataset `{name}` is not prepared in {builder.data_dir}. "
                f"Prepare it with `load_tfds({name!r}, download=True)` (needs the network) or "
                f"`tfds build {name} --data_dir=DIR` and pass `data_dir=DIR`, or point "
                "`data_dir` (or $TFDS_DATA_DIR) to where it was prepared."
            )
        _check_download_hosts(builder, name)
        builder.download_and_prepare()

    features = builder.info.features
    if not hasattr(features, "keys") or not {"image", "label"} <= set(features.keys()):
        received = list(features.keys()) if hasattr(features, "keys") else features
        raise ValueError(
            "Invalid value received for argument `name`. Expected a dataset with `image` and "
            f"`label` features. Received: name={name!r} with features {received}"
        )
    available = list(builder.info.splits.keys())
    chosen = {}
    for split, candidates in DEFAULT_SPLITS.items():
        if split in split_map:
            chosen[split] = split_map[split]
            if chosen[split] is not None:
                _check_split_names(chosen[split], available, name)
        else:
            chosen[split] = next((c for c in candidates if c in available), None)
    if chosen["train"] is None:
        raise ValueError(
            f"Invalid value received for argument `split_map`. Expected a `train` split: "
            f"`{name}` has splits {available} and none is called `train`; map one with "
            f"split_map={{'train': ...}}. Received: split_map={split_map!r}"
        )

    loaded = {
        split: _read_split(builder, tfds_split, image_size)
        for split, tfds_split in chosen.items()
        if tfds_split is not None
    }
    x_train, y_train = loaded["train"]
    carve = [s for s in ("test", "val") if s not in loaded]
    if carve:
        fractions = {"test": test_fraction, "val": val_fraction}
        parts = stratified_split(
            y_train, [fractions[s] for s in carve], seed, [f"{s}_fraction" for s in carve]
        )
        for split, index in zip(carve, parts[1:]):
            loaded[split] = (x_train[index], y_train[index])
        loaded["train"] = (x_train[parts[0]], y_train[parts[0]])

    label = features["label"]
    if hasattr(label, "names") and label.names:
        class_names = list(label.names)
    else:
        largest = max((int(y.max()) for _, y in loaded.values() if len(y)), default=-1)
        class_names = [str(c) for c in range(largest + 1)]
    return ImageDataset(
        train=loaded["train"],
        val=loaded["val"],
        test=loaded["test"],
        class_names=class_names,
        name=f"tfds:{name}",
    )


def _download_hosts(builder):
    """`[(host, port)]` of the URLs the builder downloads from (its registered checksums)."""
    hosts = []
    for url in getattr(builder, "url_infos", None) or {}:
        parts = urllib.parse.urlsplit(str(url))
        if parts.hostname and parts.scheme in ("http", "https"):
            host = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            if host not in hosts:
                hosts.append(host)
    return hosts


def _check_download_hosts(builder, name):
    """Raises `ConnectionError` when a host the dataset downloads from cannot be reached."""
    for host, port in _download_hosts(builder):
        try:
            network.check_connection(host, port, timeout=DOWNLOAD_CHECK_TIMEOUT)
        except ConnectionError as error:
            raise ConnectionError(
                f"Downloading TensorFlow Datasets dataset `{name}` needs the network, and "
                f"{error}. Connect to the network, or prepare it on a machine that has one "
                f"(`tfds build {name} --data_dir=DIR`) and pass `data_dir=DIR`."
            ) from None


def _check_split_map(split_map):
    if split_map is None:
        return {}
    if not isinstance(split_map, dict):
        raise TypeError(
            "Invalid type received for argument `split_map`. Expected a dict mapping 'train', "
            f"'val' or 'test' to tfds split names. Received: split_map={split_map!r}"
        )
    unknown = sorted(set(split_map) - set(DEFAULT_SPLITS), key=str)
    bad_values = {k: v for k, v in split_map.items() if v is not None and not isinstance(v, str)}
    if unknown or bad_values:
        raise ValueError(
            "Invalid value received for argument `split_map`. Expected keys among "
            "['train', 'val', 'test'] and str (or None) values. Received: "
            f"split_map={split_map!r}"
        )
    if split_map.get("train", "train") is None:
        raise ValueError(
            "Invalid value received for argument `split_map`. Expected a tfds split for "
            "'train' (only 'val' and 'test' can be carved out of train). Received: "
            f"split_map={split_map!r}"
        )
    return dict(split_map)


def _check_split_names(spec, available, name):
    """Checks the base split names in a tfds split string such as `train[:80%]+validation`."""
    for part in spec.split("+"):
        base = part.split("[")[0].strip()
        if base not in available:
            raise ValueError(
                f"Invalid value received for argument `split_map`. Expected split names of "
                f"`{name}` ({available}). Received: {spec!r}"
            )


def _read_split(builder, split, image_size):
    """Reads one split into uint8/float images `(N, H, W, C)` and int64 labels `(N,)`."""
    ds = builder.as_dataset(split=split, shuffle_files=False)
    ds = ds.map(lambda example: (example["image"], example["label"]))
    image_shape = ds.element_spec[0].shape
    if image_shape.is_fully_defined():
        batches = list(ds.batch(4096).as_numpy_iterator())
        empty = (np.zeros((0, *image_shape), ds.element_spec[0].dtype.as_numpy_dtype), np.zeros(0))
        images, labels = (np.concatenate(a) for a in zip(*batches)) if batches else empty
        if images.ndim == 3:
            images = images[..., None]
        if image_size is not None:
            images = resize_images(images, image_size)
    else:
        images, labels, first = [], [], None
        for image, label in ds.as_numpy_iterator():
            if image.ndim == 2:
                image = image[..., None]
            if image_size is not None:
                image = resize_images(image[None], image_size)[0]
            elif first is None:
                first = image.shape
            elif image.shape != first:
                raise ValueError(
                    "Invalid value received for argument `image_size`. Expected an int to "
                    f"resize images of different sizes. Received: image_size=None with images "
                    f"of shape {first} and {image.shape} in split {split!r}"
                )
            images.append(image)
            labels.append(label)
        images = np.stack(images) if images else np.zeros((0, 1, 1, 1), np.uint8)
        labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    return images, np.asarray(labels, dtype=np.int64)
