"""`ImageDataset`: the one data type every loader returns and every method consumes."""

import dataclasses

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_files import ImageFiles
from kerasimb.utils.images import check_unit_range
from kerasimb.utils.validation import check_images_labels, check_labels


def _check_pixel_scale(split, x, train_x):
    """One pixel-scaling rule per dataset, decided by the training split's dtype.

    uint8 images are divided by 255 and float images are used as they are, so every split must
    share the training split's kind of dtype (a float 0-255 copy of uint8 training images would
    otherwise be scored unscaled), and float images must lie in [0, 1].
    """
    kind = "uint8" if x.dtype == np.uint8 else "float"
    if train_x is not None:
        train_kind = "uint8" if train_x.dtype == np.uint8 else "float"
        if kind != train_kind:
            fix = ("convert it with `x.astype('uint8')` (0-255 values) or give every split as "
                   "float in [0, 1]" if train_kind == "uint8" else
                   "convert it with `x.astype('float32') / 255`")
            raise ValueError(
                f"Invalid value received for argument `{split}`. Expected {split} images of the "
                f"training split's dtype ({train_x.dtype}), since pixel scaling is decided once "
                f"from the training split (uint8: divided by 255; float: used as is, in [0, 1]). "
                f"Received: {split} images with dtype {x.dtype}; {fix}")
    check_unit_range(x, split)


@kerasimb_export("kerasimb.data.ImageDataset", serializable=False)
@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """Train / validation / test splits of an image classification task, validated on creation.

    Each split is a pair `(images, labels)`: images `(N, H, W, C)` uint8 (0-255) or float, labels
    int64 `(N,)` in `[0, num_classes)`. All splits share height, width and channels. Images may
    also be an `ImageFiles` (file-backed, e.g. the train split of
    `load_folder(..., file_backed=True)`): the pipelines then decode only the files they draw.

    Args:
        train: `(images, labels)`. The training split; `class_counts` is counted from it and every
            class must appear in it.
        val: `(images, labels)`. The validation split (used for model selection).
        test: `(images, labels)`. The test split (used for the reported figures).
        class_names: list of str, one per class.
        name: str. A short name, e.g. `"digits-lt"` or `"medmnist:pneumoniamnist"`.
        ordinal: bool. Whether labels are ordered grades (e.g. retinopathy 0-4), which makes the
            quadratic kappa and Kendall tau meaningful. Defaults to `False`.
        paths: `None` or a dict `{split: file names}` for the splits read from image files (one
            name per example, in order; an image folder gives them relative to the folder), so
            that predictions and split records can name the files. Defaults to `None`.

    Attributes:
        num_classes: int. `len(class_names)`.
        class_counts: list of int. Training examples per class.
        image_shape: tuple `(H, W, C)`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((6, 8, 8, 1), "uint8"); y = np.array([0, 0, 0, 0, 1, 1])
    >>> ds = ImageDataset((x, y), (x[:2], y[:2]), (x[:2], y[:2]), ["a", "b"], name="toy")
    >>> ds.class_counts
    [4, 2]
    """

    train: tuple
    val: tuple
    test: tuple
    class_names: list
    name: str = "dataset"
    ordinal: bool = False
    paths: dict = None

    def __post_init__(self):
        class_names = [str(c) for c in self.class_names]
        if len(class_names) < 2:
            raise ValueError(
                "Invalid value received for argument `class_names`. Expected at least 2 classes. "
                f"Received: class_names={self.class_names!r}"
            )
        if len(set(class_names)) != len(class_names):
            raise ValueError(
                "Invalid value received for argument `class_names`. Expected unique names. "
                f"Received: class_names={class_names!r}"
            )
        object.__setattr__(self, "class_names", class_names)
        shape = None
        for split in ("train", "val", "test"):
            pair = getattr(self, split)
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(
                    f"Invalid value received for argument `{split}`. Expected a pair "
                    f"(images, labels). Received: {type(pair).__name__}"
                )
            if isinstance(pair[0], ImageFiles):  # file-backed: no file is read here
                x, y = pair[0], check_labels(pair[1], len(class_names), f"{split} labels")
                if len(x) != len(y):
                    raise ValueError(f"Expected `{split} images` and `{split} labels` to hold the "
                                     f"same number of examples. Received: {len(x)} image files "
                                     f"and {len(y)} labels")
            else:
                x, y = check_images_labels(
                    pair[0], pair[1], len(class_names), f"{split} images", f"{split} labels"
                )
            if len(x) == 0:
                raise ValueError(f"Invalid value received for argument `{split}`. Expected at "
                                 "least one example. Received: an empty split")
            _check_pixel_scale(split, x, self.train[0] if split != "train" else None)
            if shape is None:
                shape = x.shape[1:]
            elif x.shape[1:] != shape:
                raise ValueError(
                    f"Expected every split to share one image shape. Received: train images "
                    f"{shape} and {split} images {x.shape[1:]}"
                )
            object.__setattr__(self, split, (x, y))
        if self.paths is not None:
            if not isinstance(self.paths, dict) or not set(self.paths) <= {"train", "val", "test"}:
                raise ValueError(
                    "Invalid value received for argument `paths`. Expected None or a dict with "
                    f"keys among train, val, test. Received: paths={self.paths!r}")
            paths = {}
            for split, names in self.paths.items():
                names = [str(n) for n in names]
                if len(names) != len(getattr(self, split)[1]):
                    raise ValueError(
                        f"Invalid value received for argument `paths`. Expected one file name "
                        f"per {split} example ({len(getattr(self, split)[1])}). Received: "
                        f"{len(names)} names")
                paths[split] = names
            object.__setattr__(self, "paths", paths)
        counts = np.bincount(self.train[1], minlength=len(class_names))
        missing = [class_names[i] for i in np.flatnonzero(counts == 0)]
        if missing:
            raise ValueError(
                "Invalid value received for argument `train`. Every class needs at least one "
                f"training example. Received: no examples for classes {missing}"
            )

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def class_counts(self):
        return np.bincount(self.train[1], minlength=self.num_classes).astype(int).tolist()

    @property
    def image_shape(self):
        return tuple(int(d) for d in self.train[0].shape[1:])

    @property
    def imbalance_ratio(self):
        """Largest over smallest training class count."""
        counts = self.class_counts
        return max(counts) / min(counts)

    def summary(self):
        """Returns a short multi-line description: splits, image shape and class counts."""
        lines = [
            f"{self.name}: {self.num_classes} classes, images {self.image_shape}, "
            f"train/val/test = {len(self.train[1])}/{len(self.val[1])}/{len(self.test[1])}, "
            f"imbalance ratio {self.imbalance_ratio:.1f}" + (", ordinal" if self.ordinal else "")
        ]
        for name, count in zip(self.class_names, self.class_counts):
            lines.append(f"  {name}: {count}")
        return "\n".join(lines)
