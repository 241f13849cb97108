"""`data.folds.fold_as_test_datasets` and `check_fold_count`; `stratified_folds` checked against
scikit-learn's `StratifiedKFold` per-class counts."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from kerasimb.data import ImageDataset, kfold_datasets, stratified_folds
from kerasimb.data.folds import check_fold_count, fold_as_test_datasets


def numbered_dataset():
    """Every image holds its own index in pixel (0, 0, 0) and (0, 1, 0), so splits can be traced
    back to the pooled images."""
    def split(start, per_class):
        y = np.repeat(np.arange(3), per_class)
        index = np.arange(start, start + len(y))
        x = np.zeros((len(y), 4, 4, 1), np.uint8)
        x[:, 0, 0, 0], x[:, 0, 1, 0] = index // 256, index % 256
        return x, y

    train, val, test = split(0, [14, 7, 4]), split(25, [3, 2, 2]), split(32, [5, 3, 2])
    return ImageDataset(train, val, test, ["a", "b", "c"], name="numbered")


def ids(images):
    return images[:, 0, 0, 0].astype(int) * 256 + images[:, 0, 1, 0].astype(int)


def per_class_counts(y, parts, num_classes=3):
    """`(k, C)` counts of each class in each part."""
    return np.array([np.bincount(y[part], minlength=num_classes) for part in parts])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_stratified_folds_have_sklearns_per_class_counts(k):
    y = np.repeat(np.arange(3), [14, 9, 5])
    ours = per_class_counts(y, [val for _, val in stratified_folds(y, k, seed=0)])
    theirs = per_class_counts(y, [val for _, val in StratifiedKFold(k).split(np.zeros(len(y)), y)])
    # the folds may be dealt in another order: per class, the same multiset of counts
    np.testing.assert_array_equal(np.sort(ours, axis=0), np.sort(theirs, axis=0))
    assert (ours.max(axis=0) - ours.min(axis=0) <= 1).all()


def test_kfold_validation_parts_partition_train_and_val():
    dataset = numbered_dataset()
    folds = kfold_datasets(dataset, 3, seed=0)
    vals = [set(ids(fold.val[0])) for fold in folds]
    assert set().union(*vals) == set(range(32)) and sum(map(len, vals)) == 32
    for fold, val in zip(folds, vals):
        assert set(ids(fold.train[0])) == set(range(32)) - val  # trains on the rest
        assert set(ids(fold.test[0])) == set(range(32, 42))     # the test split is fixed


@pytest.mark.parametrize("k", [3, 4])
def test_fold_as_test_tests_partition_the_pooled_images(k):
    dataset = numbered_dataset()
    folds = fold_as_test_datasets(dataset, k, seed=1)
    tests = [ids(fold.test[0]) for fold in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(42))  # a partition, no repeat
    for i, fold in enumerate(folds):
        val, train = set(ids(fold.val[0])), set(ids(fold.train[0]))
        assert val == set(tests[(i + 1) % k].tolist())  # the next fold validates
        assert train == set(range(42)) - val - set(tests[i].tolist())  # the rest trains
        assert len(train) + len(val) + len(tests[i]) == 42
    y = np.concatenate([dataset.train[1], dataset.val[1], dataset.test[1]])
    pooled = np.concatenate([ids(dataset.train[0]), ids(dataset.val[0]), ids(dataset.test[0])])
    position = np.argsort(pooled)
    counts = per_class_counts(y, [position[t] for t in tests])
    theirs = per_class_counts(y, [v for _, v in StratifiedKFold(k).split(np.zeros(len(y)), y)])
    np.testing.assert_array_equal(np.sort(counts, axis=0), np.sort(theirs, axis=0))


def test_fold_as_test_needs_three_folds():
    with pytest.raises(ValueError, match="Received: k=2"):
        fold_as_test_datasets(numbered_dataset(), 2)


def test_fold_count_above_the_smallest_class_names_it():
    y = np.repeat(np.arange(3), [10, 6, 4])
    assert check_fold_count(y, 4) == 4
    with pytest.raises(ValueError, match=r"at most 4 folds.*class 'c': 4 images.*Received: "
                                         r"folds=5"):
        check_fold_count(y, 5, ["a", "b", "c"])
    with pytest.raises(ValueError, match="Received: folds=1"):
        check_fold_count(y, 1)
