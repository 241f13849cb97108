"""Stratified k-fold splits for cross-validation over the training and validation images."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.utils.validation import check_int, check_labels

__all__ = ["kfold_datasets", "stratified_folds"]


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
