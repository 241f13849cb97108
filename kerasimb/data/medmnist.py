"""MedMNIST v2 (2D, 28x28) npz files: by flag from a data folder, by path, or downloaded.

Facts about each flag (class names in label order, task, official download address and md5)
are those of the MedMNIST v2 release (Yang et al., Scientific Data 2023; Zenodo record 6496656,
as listed by the `medmnist` package 2.x). Only the 2D flags are listed; 3D volumes are not images.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.resize import resize_images
from kerasimb.utils.network import check_connection
from kerasimb.utils.npz import read_npz
from kerasimb.utils.validation import check_bool, check_int, check_str

# Environment variable naming the folder that holds `<flag>.npz` files.
DATA_DIR_ENV = "KERASIMB_DATA"
# Where `download=True` puts files when neither `data_dir` nor KERASIMB_DATA is set.
DEFAULT_DATA_DIR = os.path.join("~", ".keras", "datasets", "medmnist")
# Seconds without progress before a download gives up.
DOWNLOAD_TIMEOUT = 60

KEYS = ("train_images", "train_labels", "val_images", "val_labels", "test_images", "test_labels")

_URL = "https://zenodo.org/record/6496656/files/{flag}.npz?download=1"
_ORGANS = [
    "bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
    "lung-left", "lung-right", "pancreas", "spleen",
]

# flag -> class names (label order), task, md5 of the official 28x28 file.
FLAGS = {
    "pathmnist": {
        "class_names": [
            "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
            "normal colon mucosa", "cancer-associated stroma",
            "colorectal adenocarcinoma epithelium",
        ],
        "task": "multi-class",
        "md5": "a8b06965200029087d5bd730944a56c1",
    },
    "chestmnist": {
        "class_names": [
            "atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
            "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
            "pleural", "hernia",
        ],
        "task": "multi-label, binary-class",
        "md5": "02c8a6516a18b556561a56cbdd36c4a8",
    },
    "dermamnist": {
        "class_names": [
            "actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
            "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
            "vascular lesions",
        ],
        "task": "multi-class",
        "md5": "0744692d530f8e62ec473284d019b0c7",
    },
    "octmnist": {
        "class_names": [
            "choroidal neovascularization", "diabetic macular edema", "drusen", "normal",
        ],
        "task": "multi-class",
        "md5": "c68d92d5b585d8d81f7112f81e2d0842",
    },
    "pneumoniamnist": {
        "class_names": ["normal", "pneumonia"],
        "task": "binary-class",
        "md5": "28209eda62fecd6e6a2d98b1501bb15f",
    },
    "retinamnist": {
        "class_names": ["0", "1", "2", "3", "4"],
        "task": "ordinal-regression",
        "md5": "bd4c0672f1bba3e3a89f0e4e876791e4",
    },
    "breastmnist": {
        "class_names": ["malignant", "normal, benign"],
        "task": "binary-class",
        "md5": "750601b1f35ba3300ea97c75c52ff8f6",
    },
    "bloodmnist": {
        "class_names": [
            "basophil", "eosinophil", "erythroblast",
            "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte",
            "monocyte", "neutrophil", "platelet",
        ],
        "task": "multi-class",
        "md5": "7053d0359d879ad8a5505303e11de1dc",
    },
    "tissuemnist": {
        "class_names": [
            "Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
            "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
            "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb",
        ],
        "task": "multi-class",
        "md5": "ebe78ee8b05294063de985d821c1c34b",
    },
    "organamnist": {
        "class_names": _ORGANS,
        "task": "multi-class",
        "md5": "866b832ed4eeba67bfb9edee1d5544e6",
    },
    "organcmnist": {
        "class_names": _ORGANS,
        "task": "multi-class",
        "md5": "0afa5834fb105f7705a7d93372119a21",
    },
    "organsmnist": {
        "class_names": _ORGANS,
        "task": "multi-class",
        "md5": "e5c39f1af030238290b9557d9503af9d",
    },
}
for _flag, _facts in FLAGS.items():
    _facts["url"] = _URL.format(flag=_flag)
del _flag, _facts

_3D_FLAGS = ("organmnist3d", "nodulemnist3d", "adrenalmnist3d", "fracturemnist3d",
             "vesselmnist3d", "synapsemnist3d")


@kerasimb_export("kerasimb.data.load_medmnist", serializable=False)
def load_medmnist(flag_or_path, data_dir=None, download=False, image_size=None):
    """Loads a MedMNIST v2 2D dataset from its npz file.

    `flag_or_path` is either a MedMNIST v2 2D flag (`"pathmnist"`, `"dermamnist"`,
    `"octmnist"`, `"pneumoniamnist"`, `"retinamnist"`, `"breastmnist"`, `"bloodmnist"`,
    `"tissuemnist"`, `"organamnist"`, `"organcmnist"`, `"organsmnist"`), looked up as
    `<data_dir>/<flag>.npz`, or the path of an npz file in the MedMNIST layout (six arrays
    `train_images`, `train_labels`, `val_images`, `val_labels`, `test_images`, `test_labels`;
    images uint8 `(N, H, W)` or `(N, H, W, 3)`, labels `(N, 1)`). A string ending in `.npz`,
    or naming an existing file, is a path; a relative path that does not exist is also looked for
    in `data_dir`.

    Class names come from the official MedMNIST facts when the flag is known, also for a path
    whose file name starts with a flag (`pneumoniamnist_lt.npz` is read as `pneumoniamnist`);
    otherwise they are `"0"`..`"C-1"` with `C` the largest label over all splits plus one.
    `retinamnist` is marked ordinal (diabetic retinopathy grades 0-4). `chestmnist` is
    multi-label and is refused, as is any file whose labels have more than one column.

    A local file is never checked against the official md5: re-ordered or long-tailed copies
    (and `.npz` files of other MedMNIST sizes) load as long as their arrays are valid. Only a
    download is verified; it goes to a temporary file in `data_dir` that is renamed to
    `<flag>.npz` once its md5 matches, and deleted otherwise.

    Args:
        flag_or_path: str or path-like. A MedMNIST v2 2D flag, or the path of an npz file.
        data_dir: str, path-like or `None`. Folder holding `<flag>.npz` files. Defaults to
            `None`: the `KERASIMB_DATA` environment variable, else `~/.keras/datasets/medmnist`.
        download: bool. Download a missing flag's file from the official address (Zenodo),
            verifying its md5. Defaults to `False`.
        image_size: int >= 1 or `None`. Resize images (bilinear) to `image_size` x
            `image_size`. Defaults to `None` (keep 28 x 28).

    Returns:
        An `ImageDataset` named `"medmnist:<flag>"` (or `"medmnist:<file stem>"` for a path).

    Raises:
        FileNotFoundError: the file is missing and `download=False`; the message says where it
            looked and how to get the file.
        ValueError: an unknown flag, a file that is not a valid npz, missing arrays, multi-label
            labels, labels out of range, split lengths that disagree, non-finite float pixels,
            or a download whose md5 differs from the official one.
        TypeError: arguments of the wrong type, or images that are neither uint8 nor float.

    Example:

    >>> ds = load_medmnist("breastmnist", data_dir="../shared/data")  # doctest: +SKIP
    >>> ds.class_names, ds.class_counts  # doctest: +SKIP
    (['malignant', 'normal, benign'], [147, 399])
    """
    flag_or_path = check_str(flag_or_path, "flag_or_path",
                             "a MedMNIST flag or the path of an .npz file", allow_path=True)
    download = check_bool(download, "download")
    if image_size is not None:
        image_size = check_int(image_size, "image_size", minimum=1)
    if isinstance(data_dir, os.PathLike):
        data_dir = os.fspath(data_dir)
    if data_dir is not None and not isinstance(data_dir, str):
        raise TypeError(
            "Invalid type received for argument `data_dir`. Expected a str, a path or None. "
            f"Received: data_dir={data_dir!r}"
        )
    if data_dir is not None:
        source = "from the `data_dir` argument"
    elif os.environ.get(DATA_DIR_ENV):
        data_dir, source = os.environ[DATA_DIR_ENV], f"from ${DATA_DIR_ENV}"
    else:
        data_dir = DEFAULT_DATA_DIR
        source = f"the default: neither `data_dir` nor ${DATA_DIR_ENV} is set"
    data_dir = os.path.expanduser(data_dir)

    expanded = os.path.expanduser(flag_or_path)
    if flag_or_path.lower().endswith(".npz") or os.path.isfile(expanded):
        path = _find_path(expanded, data_dir)
        stem = os.path.splitext(os.path.basename(path))[0]
        flag = flag_from_file_name(stem)
        name = stem
    else:
        flag = _check_flag(flag_or_path)
        name = flag
        path = os.path.join(data_dir, f"{flag}.npz")
        if not os.path.isfile(path):
            if not download:
                raise FileNotFoundError(
                    f"MedMNIST file `{flag}.npz` not found. Looked for: {os.path.abspath(path)} "
                    f"(data_dir {source}). Put the file there, point `data_dir` or the "
                    f"{DATA_DIR_ENV} environment variable to the folder that holds it, or pass "
                    f"`download=True` to fetch it from {FLAGS[flag]['url']} (md5-verified)."
                )
            download_flag(flag, data_dir)

    arrays = _read_npz(path)
    if flag is not None and "multi-label" in FLAGS[flag]["task"]:
        # A file named after chestmnist whose labels happen to have one column: still refuse.
        raise _multi_label_error(path, flag)
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = _images(arrays[f"{split}_images"], f"{split}_images", path)
        arrays[f"{split}_labels"] = _labels(arrays[f"{split}_labels"], f"{split}_labels", path)

    if flag is not None:
        class_names = list(FLAGS[flag]["class_names"])
    else:
        class_names = _undeclared_class_names(arrays, path)
    splits = {
        s: (arrays[f"{s}_images"], arrays[f"{s}_labels"]) for s in ("train", "val", "test")
    }
    try:
        dataset = ImageDataset(
            train=splits["train"],
            val=splits["val"],
            test=splits["test"],
            class_names=class_names,
            name=f"medmnist:{name}",
            ordinal=flag == "retinamnist",
        )
    except (ValueError, TypeError) as error:
        hint = ""
        if flag is not None and name != flag:
            hint = (f"; class names were taken from the MedMNIST flag `{flag}` because the file "
                    "name starts with it")
        raise type(error)(f"{error} (in file {path}{hint})") from error
    if image_size is None:
        return dataset
    return ImageDataset(
        train=(resize_images(dataset.train[0], image_size), dataset.train[1]),
        val=(resize_images(dataset.val[0], image_size), dataset.val[1]),
        test=(resize_images(dataset.test[0], image_size), dataset.test[1]),
        class_names=dataset.class_names,
        name=dataset.name,
        ordinal=dataset.ordinal,
    )


def _undeclared_class_names(arrays, path):
    """Class names `"0"`... for a file that declares no classes (no MedMNIST flag).

    The classes are those of the training labels, so a mistyped label cannot invent classes: a
    class with fewer than 2 training examples, or one that appears only in val/test, is an
    error naming the split, the index and the value.
    """
    labels = {s: arrays[f"{s}_labels"] for s in ("train", "val", "test")}
    if not all(y.dtype.kind in "iuf" and np.isfinite(y).all() and np.all(np.mod(y, 1) == 0)
               and (not y.size or y.min() >= 0) for y in labels.values()):
        # Non-integer labels: let `ImageDataset` name them (its checks give the details).
        largest = max((int(np.nanmax(y)) for y in labels.values()
                       if y.size and y.dtype.kind in "iuf" and np.isfinite(y).all()), default=1)
        return [str(c) for c in range(max(largest + 1, 0))]
    train = labels["train"].astype(np.int64)
    counts = np.bincount(train) if train.size else np.zeros(0, int)
    for value in np.flatnonzero((counts > 0) & (counts < 2)):
        index = int(np.flatnonzero(train == value)[0])
        raise ValueError(
            "Invalid value received for argument `flag_or_path`. Expected every class of a file "
            "without declared classes to have at least 2 training examples. Received: "
            f"train_labels[index {index}] has value {int(value)}, the only training example of "
            f"class {int(value)}, which has 1 training example (a mistyped label?) in {path}; "
            "fix the label, or name the file after its MedMNIST flag to declare the classes")
    present = set(np.flatnonzero(counts).tolist())
    for split in ("val", "test"):
        y = labels[split].astype(np.int64)
        outside = np.flatnonzero(~np.isin(y, list(present)))
        if outside.size:
            index = int(outside[0])
            raise ValueError(
                "Invalid value received for argument `flag_or_path`. Expected val/test labels "
                "among the training classes of a file without declared classes. Received: "
                f"{split}_labels[index {index}] has value {int(y[index])}, not in the training "
                f"classes {sorted(present)} ({outside.size} such labels) in {path}; fix the "
                "label, or name the file after its MedMNIST flag to declare the classes")
    missing = [c for c in range(len(counts)) if c not in present]
    if missing:
        largest = int(len(counts) - 1)
        index = int(np.flatnonzero(train == largest)[0])
        raise ValueError(
            "Invalid value received for argument `flag_or_path`. Expected the training labels of "
            "a file without declared classes to be 0, 1, ... with no class skipped. Received: "
            f"no training example of classes {missing}, below train_labels[index {index}] with "
            f"value {largest}, in {path}; renumber the labels")
    return [str(c) for c in range(len(counts))]


def flag_from_file_name(stem):
    """Returns the known flag that `stem` starts with (the longest such), or `None`."""
    stem = stem.lower()
    matches = [flag for flag in FLAGS if stem.startswith(flag)]
    return max(matches, key=len) if matches else None


def _check_flag(flag):
    key = flag.lower()
    if key in FLAGS:
        if "multi-label" in FLAGS[key]["task"]:
            raise _multi_label_error(None, key)
        return key
    supported = sorted(f for f, facts in FLAGS.items() if "multi-label" not in facts["task"])
    if key in _3D_FLAGS:
        raise ValueError(
            "Invalid value received for argument `flag_or_path`. Expected a 2D MedMNIST flag; "
            f"3D volumes are not supported. Received: flag_or_path={flag!r}"
        )
    raise ValueError(
        "Invalid value received for argument `flag_or_path`. Expected a MedMNIST v2 2D flag "
        f"(one of {supported}) or the path of an .npz file (ending in `.npz`). "
        f"Received: flag_or_path={flag!r}"
    )


def _multi_label_error(path, flag):
    where = f" (file {path})" if path else ""
    return ValueError(
        "Invalid value received for argument `flag_or_path`. Expected a single-label "
        "classification task; multi-label data (one 0/1 column per finding, as in chestmnist) is "
        f"not supported. Received: flag_or_path={flag!r}{where}"
    )


def _find_path(path, data_dir):
    if os.path.isfile(path):
        return path
    looked = [os.path.abspath(path)]
    if not os.path.isabs(path):
        candidate = os.path.join(data_dir, path)
        if os.path.isfile(candidate):
            return candidate
        looked.append(os.path.abspath(candidate))
    raise FileNotFoundError(
        f"MedMNIST npz file not found. Looked for: {', '.join(looked)}. Check the path, or give "
        f"a relative path together with `data_dir` (or the {DATA_DIR_ENV} environment variable). "
        "`download=True` only works with a flag such as `pneumoniamnist`, not with a path."
    )


def download_flag(flag, data_dir):
    """Downloads `<flag>.npz` into `data_dir`, verifying its md5; returns the file's path."""
    facts = FLAGS[flag]
    os.makedirs(data_dir, exist_ok=True)
    target = os.path.join(data_dir, f"{flag}.npz")
    host = urllib.parse.urlsplit(facts["url"]).hostname
    try:  # a 3 s connection check first: offline fails at once, not after the fetch's timeout
        check_connection(host)
    except ConnectionError as error:
        raise ConnectionError(
            f"MedMNIST flag `{flag}` needs the network to download: {error}. Download "
            f"{facts['url']} by hand and save it as {target}, or pass its folder as data_dir."
        ) from None
    handle, partial = tempfile.mkstemp(prefix=f".{flag}.", suffix=".npz.part", dir=data_dir)
    os.close(handle)
    try:
        try:
            _fetch(facts["url"], partial, DOWNLOAD_TIMEOUT)
        except OSError as error:  # urllib.error.URLError and socket timeouts are OSErrors
            raise OSError(
                f"Could not download {facts['url']}: {error}. Check the network connection, or "
                f"download the file by hand and save it as {target}."
            ) from error
        digest = md5_of(partial)
        if digest != facts["md5"]:
            raise ValueError(
                f"Downloaded file for MedMNIST flag `{flag}` failed verification. Expected md5 "
                f"{facts['md5']}. Received: md5 {digest} from {facts['url']}. The download was "
                "deleted; try again, or fetch the file by hand."
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return target


def _fetch(url, destination, timeout):
    """Copies `url` into the file `destination` (the one place that touches the network)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(destination, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def md5_of(path):
    """Hex md5 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_npz(path):
    names, arrays = read_npz(path, "flag_or_path", lambda names: [k for k in KEYS if k in names])
    missing = [key for key in KEYS if key not in names]
    if missing:
        raise ValueError(
            "Invalid value received for argument `flag_or_path`. Expected an .npz file "
            f"with the arrays {list(KEYS)}. Received: {path} is missing {missing} (it "
            f"holds {sorted(names)})"
        )
    return arrays


def _images(images, key, path):
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"Invalid value received for argument `flag_or_path`. Expected `{key}` of shape "
            f"(N, H, W) or (N, H, W, 1 or 3). Received: shape {images.shape} in {path}"
        )
    return images


def _labels(labels, key, path):
    if labels.ndim == 2 and labels.shape[1] > 1:
        raise ValueError(
            "Invalid value received for argument `flag_or_path`. Expected single-label "
            f"`{key}` of shape (N,) or (N, 1); multi-label data is not supported. "
            f"Received: shape {labels.shape} in {path}"
        )
    if labels.ndim == 2:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            f"Invalid value received for argument `flag_or_path`. Expected `{key}` of shape (N,) "
            f"or (N, 1). Received: shape {labels.shape} in {path}"
        )
    return labels
