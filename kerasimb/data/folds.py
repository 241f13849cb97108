"""Stratified k-fold splits for cross-validation over the training and validation images."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.utils.validation import check_int, check_labels

__all__ = ["check_fold_count", "fold_as_test_datasets", "kfold_datasets", "stratified_folds"]


@kerasimb_export("kerasimb.data.stratified_folds", serializable=False)
def stratified_folds(y, k, seed=0):
    """Splits example indices into `k` stratified folds.

    Each class's examples are shuffled (seeded) and dealt to the folds in turn, continuing the
    turn from one class to the next, so every class is spread over the folds as evenly as
    possible (per-class counts differ by at most 1 between folds, as in scikit-learn's
    `StratifiedKFold`) and the fold sizes differ by at most 1.

    Args:
        y: integer labels `(N,)`.
        k: int >= 2. Number of folds.
        seed: int. Shuffling seed. Defaults to `0`.

    Returns:
        list of `k` pairs `(train_indices, val_indices)` (sorted int64 arrays); the validation
        parts partition `range(N)`.

    Raises:
        ValueError: `k` < 2 or more than N, or a class with a single example (it would be missing
            from the training part of one fold).

    Example:

    >>> folds = stratified_folds([0, 0, 0, 0, 1, 1], k=2)
    >>> [len(val) for _, val in folds]
    [3, 3]
    """
    y = check_labels(y)
    k = check_int(k, "k", minimum=2, maximum=max(len(y), 2))
    counts = np.bincount(y)
    lonely = [int(c) for c in np.flatnonzero(counts == 1)]
    if lonely:
        raise ValueError(
            "Invalid value received for argument `y`. Expected at least 2 examples of every "
            "class present, so that each fold's training part keeps every class. Received: a "
            f"single example of classes {lonely}"
        )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    turn = 0
    for c in np.flatnonzero(counts):
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (turn + np.arange(len(members))) % k
        turn = (turn + len(members)) % k
    everything = np.arange(len(y))
    return [(everything[fold_of != i], everything[fold_of == i]) for i in range(k)]


@kerasimb_export("kerasimb.data.kfold_datasets", serializable=False)
def kfold_datasets(dataset, k, seed=0):
    """Returns `k` `ImageDataset`s for cross-validation over the train and validation images.

    The training and validation splits are pooled and split by `stratified_folds`; fold `i`
    trains on the other folds and validates on fold `i`. The test split is the same in every
    fold, so test figures can be averaged over folds.

    Args:
        dataset: an `ImageDataset`.
        k: int >= 2. Number of folds.
        seed: int. Defaults to `0`.

    Returns:
        list of `k` `ImageDataset`s named `"<name>/fold<i>"`.

    Example:

    >>> from kerasimb import data
    >>> folds = kfold_datasets(data.load_dataset("digits-lt"), k=3)
    >>> [len(f.val[1]) for f in folds], folds[0].test[1].shape
    ([148, 147, 147], (400,))
    """
    if not isinstance(dataset, ImageDataset):
        raise TypeError("Invalid type received for argument `dataset`. Expected an ImageDataset. "
                        f"Received: dataset of type {type(dataset).__name__}")
    x = np.concatenate([dataset.train[0], dataset.val[0]])
    y = np.concatenate([dataset.train[1], dataset.val[1]])
    out = []
    for i, (train, val) in enumerate(stratified_folds(y, k, seed=seed)):
        out.append(ImageDataset((x[train], y[train]), (x[val], y[val]), dataset.test,
                                dataset.class_names, name=f"{dataset.name}/fold{i}",
                                ordinal=dataset.ordinal))
    return out


@kerasimb_export("kerasimb.data.folds.check_fold_count", serializable=False)
def check_fold_count(y, k, class_names=None, name="folds", where="the pooled images"):
    """Returns `k` as an int after checking it against the labels it will split.

    Every fold must hold at least one image of every class, so `k` may not exceed the image
    count of the smallest class present in `y`.

    Args:
        y: integer labels `(N,)` of the images to split.
        k: int >= 2. The number of folds.
        class_names: `None` or the class names, to name the smallest class in the error.
        name: str, the argument's name in error messages. Defaults to `"folds"`.
        where: str, what `y` labels, in error messages. Defaults to `"the pooled images"`.

    Raises:
        ValueError: `k` < 2, or more than the smallest class's count (the message names the
            class and its count).

    Example:

    >>> check_fold_count([0, 0, 0, 1, 1, 1, 1], 3)
    3
    """
    y = check_labels(y)
    k = check_int(k, name, minimum=2)
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    smallest = int(present[np.argmin(counts[present])])
    if k > counts[smallest]:
        label = (class_names[smallest] if class_names is not None and smallest < len(class_names)
                 else smallest)
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected at most "
            f"{int(counts[smallest])} folds, the number of images of the smallest class "
            f"(class {label!r}: {int(counts[smallest])} images in {where}), so that every fold "
            f"holds every class. Received: {name}={k}")
    return k


@kerasimb_export("kerasimb.data.folds.fold_as_test_datasets", serializable=False)
def fold_as_test_datasets(dataset, k, seed=0):
    """Returns `k` `ImageDataset`s that each test on a different held-out fold.

    The training, validation and test splits are pooled and split into `k` stratified folds by
    `stratified_folds`; dataset `i` tests on fold `i`, validates on fold `(i + 1) % k` and
    trains on the other `k - 2` folds. The `k` test splits partition the pooled images (the
    protocol of papers that report figures over the held-out folds of a cross-validation).

    Args:
        dataset: an `ImageDataset`.
        k: int >= 3 (one fold tests, one validates, the rest train), at most the image count
            of the smallest class in the pooled images.
        seed: int. Shuffling seed of the folds. Defaults to `0`.

    Returns:
        list of `k` `ImageDataset`s named `"<name>/fold<i>"`.

    Raises:
        TypeError: `dataset` is not an `ImageDataset`.
        ValueError: `k` < 3, or more than the smallest class's pooled image count.

    Example:

    >>> from kerasimb import data
    >>> folds = fold_as_test_datasets(data.load_dataset("digits-lt"), k=3)
    >>> sum(len(f.test[1]) for f in folds)
    842
    """
    if not isinstance(dataset, ImageDataset):
        raise TypeError("Invalid type received for argument `dataset`. Expected an ImageDataset. "
                        f"Received: dataset of type {type(dataset).__name__}")
    k = check_int(k, "k", minimum=3)
    x = np.concatenate([dataset.train[0], dataset.val[0], dataset.test[0]])
    y = np.concatenate([dataset.train[1], dataset.val[1], dataset.test[1]])
    check_fold_count(y, k, dataset.class_names, name="k")
    parts = [val for _, val in stratified_folds(y, k, seed=seed)]
    out = []
    for i in range(k):
        test, val = parts[i], parts[(i + 1) % k]
        train = np.sort(np.concatenate([parts[j] for j in range(k) if j not in (i, (i + 1) % k)]))
        out.append(ImageDataset((x[train], y[train]), (x[val], y[val]), (x[test], y[test]),
                                dataset.class_names, name=f"{dataset.name}/fold{i}",
                                ordinal=dataset.ordinal))
    return out
