"""The embedded default dataset: scikit-learn's bundled handwritten digits, made long-tailed."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.data.long_tail import largest_head_count, make_long_tailed
from kerasimb.data.resize import resize_images
from kerasimb.utils.validation import check_float, check_int


@kerasimb_export("kerasimb.data.load_digits_lt", serializable=False)
def load_digits_lt(
    imbalance_ratio=100.0,
    profile="exp",
    image_size=28,
    val_per_class=20,
    test_per_class=40,
    seed=0,
):
    """Loads `digits-lt`: the UCI handwritten digits (bundled with scikit-learn), long-tailed.

    The 1,797 8x8 grey images of scikit-learn's `load_digits` (real data shipped inside the
    package, so this works offline) are split per class into a balanced test split
    (`test_per_class` images a class), a balanced validation split (`val_per_class`), and a
    training pool that `make_long_tailed` reduces to the given imbalance ratio (digit 0 is the head
    class, digit 9 the tail; the head count is rounded down to a multiple of an integer
    ratio so the realised ratio is exact), as CIFAR-LT and PathMNIST-LT are built. Pixels (0-16) are scaled to
    uint8 0-255 and resized bilinearly to `image_size`.

    Args:
        imbalance_ratio: float >= 1. Head over tail training count. Defaults to `100.0`.
        profile: `"exp"` or `"step"`. Defaults to `"exp"`.
        image_size: int >= 8. Output height and width. Defaults to `28` (the MedMNIST size).
        val_per_class: int >= 1. Defaults to `20`.
        test_per_class: int >= 1. Defaults to `40`.
        seed: int. Seeds the split and the long-tail subsampling. Defaults to `0`.

    Returns:
        An `ImageDataset` named `"digits-lt"` with 10 classes `"0"`..`"9"`.

    Example:

    >>> ds = load_digits_lt(imbalance_ratio=10, image_size=16)
    >>> ds.num_classes, ds.image_shape
    (10, (16, 16, 1))
    """
    from sklearn.datasets import load_digits

    image_size = check_int(image_size, "image_size", minimum=8)
    val_per_class = check_int(val_per_class, "val_per_class", minimum=1)
    test_per_class = check_int(test_per_class, "test_per_class", minimum=1)
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int64)
    smallest = int(np.bincount(labels).min())
    if val_per_class + test_per_class >= smallest:
        raise ValueError(
            "Invalid value received for arguments `val_per_class` and `test_per_class`. Expected "
            f"their sum to be below {smallest}, the smallest digit count, to leave training "
            f"examples. Received: val_per_class={val_per_class}, test_per_class={test_per_class}"
        )
    rng = np.random.default_rng(seed)
    train_idx, val_idx, test_idx = [], [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(members[:test_per_class])
        val_idx.append(members[test_per_class : test_per_class + val_per_class])
        train_idx.append(members[test_per_class + val_per_class :])
    train_idx, val_idx, test_idx = (np.sort(np.concatenate(i)) for i in (train_idx, val_idx, test_idx))
    # Round the head count down to a multiple of the ratio, so that the tail count (and so the
    # realised imbalance ratio) is exact: 100 / 1 rather than 118 / 1 for the default.
    ratio = check_float(imbalance_ratio, "imbalance_ratio", minimum=1.0)
    head = largest_head_count(np.bincount(labels[train_idx]), ratio, profile)
    if ratio == int(ratio) and head >= ratio:
        head = int(head // ratio * ratio)
    x_train, y_train = make_long_tailed(
        images[train_idx], labels[train_idx], ratio, profile=profile, seed=seed, max_count=head
    )
    if image_size != 8:
        x_train, x_val, x_test = (
            resize_images(x, image_size) for x in (x_train, images[val_idx], images[test_idx])
        )
    else:
        x_val, x_test = images[val_idx], images[test_idx]
    return ImageDataset(
        train=(x_train, y_train),
        val=(x_val, labels[val_idx]),
        test=(x_test, labels[test_idx]),
        class_names=[str(d) for d in range(10)],
        name="digits-lt",
        ordinal=False,
    )
