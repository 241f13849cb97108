"""`load_dataset(name)`: one entry point for every data source, found in `DATASETS`.

`DATASETS` is a `kerasimb.registry.Registry` of loaders. A name ending in `":"` is a prefix:
`"medmnist:"` answers to `"medmnist:<flag or path>"` and hands the rest of the name to its loader.

Example:

>>> DATASETS.names()
['digits-lt', 'folder:', 'medmnist:', 'tfds:']
"""

from kerasimb.api_export import kerasimb_export
from kerasimb.data.digits import load_digits_lt
from kerasimb.data.folder import load_folder
from kerasimb.data.medmnist import load_medmnist
from kerasimb.data.tfds_loader import load_tfds
from kerasimb.registry import Registry

# name or prefix -> loader; `kerasimb list` prints the descriptions.
DATASETS = Registry("dataset")
DATASETS.register("digits-lt", load_digits_lt,
                  description="embedded default: sklearn digits, long-tailed (ratio 100)")
DATASETS.register("medmnist:", load_medmnist,
                  description="MedMNIST v2 npz: medmnist:<flag> or medmnist:<path.npz>")
DATASETS.register("folder:", load_folder,
                  description="one sub-folder of PNG/JPEG images per class: folder:<path>")
DATASETS.register("tfds:", load_tfds,
                  description="a prepared TensorFlow Datasets dataset: tfds:<name>")


@kerasimb_export("kerasimb.data.load_dataset", serializable=False)
def load_dataset(name="digits-lt", **kwargs):
    """Loads a dataset by name into an `ImageDataset`.

    Names (`DATASETS`):
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
    for key in DATASETS:
        if key.endswith(":") and name.startswith(key):
            rest = name[len(key):]
            if not rest:
                raise ValueError(
                    f"Invalid value received for argument `name`. Expected `{key}<...>` with "
                    f"something after the colon. Received: name={name!r}"
                )
            return DATASETS.get(key)(rest, **kwargs)
    if name in DATASETS:
        return DATASETS.get(name)(**kwargs)
    forms = [f"`{key}<...>`" if key.endswith(":") else f"`{key}`" for key in DATASETS]
    raise ValueError(
        f"Invalid value received for argument `name`. Expected one of {', '.join(forms)}. "
        f"Received: name={name!r}"
    )
