"""`load_dataset(name)`: one entry point for every data source."""

from kerasimb.api_export import kerasimb_export
from kerasimb.data.digits import load_digits_lt
from kerasimb.data.folder import load_folder
from kerasimb.data.medmnist import load_medmnist
from kerasimb.data.tfds_loader import load_tfds

# name or prefix -> (loader, one-line description); `kerasimb list` prints these.
SOURCES = {
    "digits-lt": (load_digits_lt, "embedded default: sklearn digits, long-tailed (ratio 100)"),
    "medmnist:": (load_medmnist, "MedMNIST v2 npz: medmnist:<flag> or medmnist:<path.npz>"),
    "folder:": (load_folder, "one sub-folder of PNG/JPEG images per class: folder:<path>"),
    "tfds:": (load_tfds, "a prepared TensorFlow Datasets dataset: tfds:<name>"),
}


@kerasimb_export("kerasimb.data.load_dataset", serializable=False)
def load_dataset(name="digits-lt", **kwargs):
    """Loads a dataset by name into an `ImageDataset`.

    Names:
        - `"digits-lt"`: the embedded default (see `load_digits_lt`).
        - `"medmnist:<flag>"` or `"medmnist:<path/to/file.npz>"` (see `load_medmnist`).
        - `"folder:<path>"` (see `load_folder`).
        - `"tfds:<name>"` (see `load_tfds`).

    Args:
        name: str. Dataset name as above. Defaults to `"digits-lt"`.
        **kwargs: passed to the source's loader (e.g. `imbalance_ratio=`, `data_dir=`,
            `image_size=`).

    Returns:
        An `ImageDataset`.

    Raises:
        ValueError: an unknown name.

    Example:

    >>> ds = load_dataset("digits-lt", imbalance_ratio=10)
    >>> ds.num_classes
    10
    """
    if not isinstance(name, str):
        raise TypeError(f"Invalid type received for argument `name`. Expected a str. Received: name={name!r}")
    for key, (loader, _) in SOURCES.items():
        if key.endswith(":") and name.startswith(key):
            rest = name[len(key):]
            if not rest:
                raise ValueError(
                    f"Invalid value received for argument `name`. Expected `{key}<...>` with "
                    f"something after the colon. Received: name={name!r}"
                )
            return loader(rest, **kwargs)
        if name == key:
            return loader(**kwargs)
    raise ValueError(
        "Invalid value received for argument `name`. Expected one of `digits-lt`, "
        f"`medmnist:<flag or path>`, `folder:<path>`, `tfds:<name>`. Received: name={name!r}"
    )
