import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from kerasimb.data import ImageDataset, kfold_datasets, stratified_folds


def test_partition_and_stratification_match_sklearn_counts():
    y = np.repeat(np.arange(4), [23, 9, 5, 2])
    k = 3
    folds = stratified_folds(y, k, seed=1)
    val_all = np.sort(np.concatenate([val for _, val in folds]))
    np.testing.assert_array_equal(val_all, np.arange(len(y)))  # the folds partition the data
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
        assert set(y[train]) == {0, 1, 2, 3}  # every class kept for training
    ours = sorted(tuple(np.bincount(y[val], minlength=4)) for _, val in folds)
    reference = sorted(tuple(np.bincount(y[val], minlength=4))
                       for _, val in StratifiedKFold(k).split(np.zeros(len(y)), y))
    for c in range(4):  # per-class fold counts are the same multiset as scikit-learn's
        assert sorted(r[c] for r in ours) == sorted(r[c] for r in reference)
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1


def test_seeded():
    y = np.repeat([0, 1], [10, 4])
    a, b = stratified_folds(y, 2, seed=5), stratified_folds(y, 2, seed=5)
    for (ta, va), (tb, vb) in zip(a, b):
        np.testing.assert_array_equal(va, vb)


def test_errors():
    with pytest.raises(ValueError, match="single example of classes \\[1\\]"):
        stratified_folds([0, 0, 0, 1], 2)
    with pytest.raises(ValueError, match="Received: k=1"):
        stratified_folds([0, 0, 1, 1], 1)
    with pytest.raises(TypeError, match="ImageDataset"):
        kfold_datasets("digits-lt", 2)


def test_kfold_datasets_pool_train_and_val_and_keep_test():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(30, 4, 4, 1)).astype("uint8")
    y = np.r_[np.repeat([0, 1, 2], [15, 6, 3]), [0, 0, 0, 1, 1, 2]]
    ds = ImageDataset((x[:24], y[:24]), (x[24:], y[24:]), (x[:5], y[:5]), ["a", "b", "c"], name="toy")
    folds = kfold_datasets(ds, 3, seed=0)
    assert [f.name for f in folds] == ["toy/fold0", "toy/fold1", "toy/fold2"]
    assert sum(len(f.val[1]) for f in folds) == 30
    for f in folds:
        assert len(f.train[1]) + len(f.val[1]) == 30
        assert f.test[0] is ds.test[0]
