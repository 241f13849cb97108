"""File-backed images (`data.ImageFiles`): decode after sampling, equality with the in-memory
pipelines, class statistics at N = 1e5 paths, clear errors naming the bad file."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasimb import data, methods

COUNTS = [24, 10, 6]


def _write_pngs(folder, counts=COUNTS, size=8, seed=0):
    """PNG files whose pixels encode (index, class, noise); returns `(paths, x, y)`."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    x = rng.integers(0, 256, (len(y), size, size, 3), dtype=np.uint8)
    x[..., 0] = np.arange(len(y))[:, None, None]
    x[..., 1] = (40 * y)[:, None, None]
    paths = []
    for i, image in enumerate(x):
        path = os.path.join(folder, f"{i:03d}.png")
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths, x, y


@pytest.fixture
def files(tmp_path):
    return _write_pngs(str(tmp_path))


def _take(ds, batches):
    it = iter(ds)
    return [tf.nest.map_structure(lambda t: t.numpy(), next(it)) for _ in range(batches)]


def _assert_same_batches(a, b):
    for batch_a, batch_b in zip(a, b):
        for u, v in zip(tf.nest.flatten(batch_a), tf.nest.flatten(batch_b)):
            np.testing.assert_array_equal(u, v)


def test_array_view_decodes_like_pillow(files):
    paths, x, y = files
    images = data.ImageFiles(paths)
    assert images.shape == x.shape and images.dtype == np.uint8 and len(images) == len(x)
    np.testing.assert_array_equal(np.asarray(images), x)  # PNG is lossless: Pillow's pixels
    np.testing.assert_array_equal(images[5], x[5])
    subset = images[np.array([3, 1])]
    assert isinstance(subset, data.ImageFiles) and subset.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(np.asarray(subset), x[[3, 1]])
    np.testing.assert_array_equal(np.asarray(images[y == 2]), x[y == 2])


def test_channels_and_resize(tmp_path):
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.full((16, 12, 3), 77, np.uint8)).save(tmp_path / "big.png")
    inferred = data.ImageFiles([str(tmp_path / "grey.png")])
    assert inferred.image_shape == (8, 8, 1)
    np.testing.assert_array_equal(inferred[0][..., 0], grey)
    rgb = data.ImageFiles([str(tmp_path / "grey.png")], channels=3)[0]
    np.testing.assert_array_equal(rgb, np.repeat(grey[..., None], 3, axis=-1))
    # `image_size` resizes other sizes (a constant image stays constant) and keeps equal sizes
    both = data.ImageFiles([str(tmp_path / "big.png"), str(tmp_path / "grey.png")],
                           image_size=8, channels=1)
    out = np.asarray(both)
    assert out.shape == (2, 8, 8, 1)
    assert np.all(out[0] == np.asarray(Image.fromarray(np.full((16, 12, 3), 77, np.uint8))
                                       .convert("L"))[0, 0])
    np.testing.assert_array_equal(out[1, ..., 0], grey)


@pytest.mark.parametrize("name", ["sampled", "balanced-mixup", "remix", "views", "views-q",
                                  "classification"])
def test_file_backed_batches_equal_in_memory_batches(files, name):
    """Same seed, same indices, same images: the file-backed pipeline equals the array one."""
    paths, x, y = files
    build = {
        "sampled": lambda v: data.sampled_dataset(v, y, 0.5, 16, augment=True, seed=3),
        "balanced-mixup": lambda v: data.balanced_mixup_dataset(v, y, 0.2, 16, per_example=True,
                                                                augment=True, seed=3),
        "remix": lambda v: data.remix_dataset(v, y, batch_size=16, seed=3),
        "views": lambda v: data.two_view_dataset(v, y, 16, seed=3),  # partial last batch
        "views-q": lambda v: data.two_view_dataset(v, y, 16, seed=3, q=0.0),
        "classification": lambda v: data.classification_dataset(v, y, 3, 16, seed=3),
    }[name]
    batches = 4 if name == "views" else 3  # views: 3 batches per epoch, the third partial
    _assert_same_batches(_take(build(data.ImageFiles(paths)), batches), _take(build(x), batches))


def test_class_frequencies_and_images_match_labels(files):
    # Over M draws the frequency of class j has standard error sqrt(p(1-p)/M); allow 5 of them.
    paths, _, y = files
    batch, batches = 400, 10
    for q in (1.0, 0.0):
        p = data.class_probabilities(COUNTS, q)
        out = _take(data.sampled_dataset(data.ImageFiles(paths), y, q, batch, seed=1), batches)
        images = np.concatenate([b[0] for b in out])
        labels = np.concatenate([b[1] for b in out])
        freq = labels.mean(axis=0)
        assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / len(labels))), (q, freq, p)
        # channel 1 holds 40 * class / 255, channel 0 the example index: image i has label y[i]
        np.testing.assert_array_equal(np.round(images[:, 0, 0, 1] * 255), 40 * labels.argmax(1))
        index = np.round(images[:, 0, 0, 0] * 255).astype(int)
        np.testing.assert_array_equal(y[index], labels.argmax(1))


def test_only_drawn_files_are_read(tmp_path):
    """Class 1's files do not exist: sampling only class 0 never touches them."""
    paths, _, y = _write_pngs(str(tmp_path), counts=[6, 4])
    for path in np.asarray(paths)[y == 1]:
        os.remove(path)
    weights = data.SamplingWeights([6, 4], q=1.0)
    weights.set_probabilities([1.0, 0.0])
    images, labels = next(iter(data.sampled_dataset(data.ImageFiles(paths), y, weights, 32,
                                                    seed=0)))
    assert images.shape == (32, 8, 8, 3) and np.all(labels.numpy()[:, 0] == 1)
    weights.set_probabilities([0.0, 1.0])
    ds = data.sampled_dataset(data.ImageFiles(paths), y, weights, 4, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Could not read or decode image "
                       r"file .*/00[6-9]\.png \(missing"):
        next(iter(ds))


def test_corrupt_file_error_names_the_file(files):
    paths, _, y = files
    with open(paths[7], "wb") as f:
        f.write(b"not a png")
    images = data.ImageFiles(paths)
    with pytest.raises(ValueError,
                       match=r"Could not read or decode image file .*/007\.png \(missing"):
        np.asarray(images)
    with pytest.raises(ValueError, match=r"007\.png"):
        images.verify()
    assert data.ImageFiles(paths[:5]).verify().shape == (5, 8, 8, 3)
    # In a pipeline: every batch of 64 class-0 draws (24 files) includes file 7 almost surely.
    ds = data.balanced_mixup_dataset(images, y, 0.1, 64, seed=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"007\.png"):
        _take(ds, 3)


def test_wrong_size_without_image_size_names_the_file(files, tmp_path):
    paths, _, _ = files
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match=r"odd\.png.*height x width 8 x 8"):
        np.asarray(data.ImageFiles(paths[:3] + [str(tmp_path / "odd.png")]))


def test_construction_errors(files, tmp_path):
    paths, _, y = files
    with pytest.raises(TypeError, match="a single path"):
        data.ImageFiles(paths[0])
    with pytest.raises(ValueError, match="Expected a 1-D sequence"):
        data.ImageFiles(np.asarray(paths).reshape(4, 10))
    with pytest.raises(ValueError, match="Received: channels=2"):
        data.ImageFiles(paths, channels=2)
    with pytest.raises(ValueError, match="Received: image_size=0"):
        data.ImageFiles(paths, image_size=0)
    with pytest.raises(ValueError, match="empty path at position 1"):
        data.ImageFiles([paths[0], ""])
    with pytest.raises(ValueError, match=r"missing\.png.*could not be read"):
        data.ImageFiles([str(tmp_path / "missing.png")])
    with pytest.raises(ValueError, match="40 image files and 39 labels"):
        data.sampled_dataset(data.ImageFiles(paths), y[:-1], batch_size=4)
    with pytest.raises(ValueError, match="Every class needs at least one example"):
        data.sampled_dataset(data.ImageFiles(paths), y, num_classes=4)


def test_correct_at_1e5_paths(tmp_path):
    """1e5 path entries over 8 real files: class frequencies and image/label agreement."""
    _check_many_paths(tmp_path, 10**5, batches=5)


@pytest.mark.slow
def test_correct_at_1e6_paths(tmp_path):
    _check_many_paths(tmp_path, 10**6, batches=10)


def _check_many_paths(tmp_path, n, batches):
    file_class = np.array([0, 0, 0, 0, 0, 1, 1, 2])  # file k has class file_class[k]
    base = []
    for k, c in enumerate(file_class):
        path = str(tmp_path / f"f{k}.png")
        Image.fromarray(np.full((4, 4), 30 * k + c, np.uint8)).save(path)
        base.append(path)
    file_id = np.random.default_rng(0).integers(0, 8, n)
    y = file_class[file_id]
    images = data.ImageFiles(np.asarray(base, dtype=bytes)[file_id], image_size=4, channels=1)
    ds = data.sampled_dataset(images, y, q=0.0, batch_size=512, seed=0)
    out = _take(ds, batches)
    pixels = np.round(np.concatenate([b[0] for b in out])[:, 0, 0, 0] * 255).astype(int)
    labels = np.concatenate([b[1] for b in out]).argmax(1)
    np.testing.assert_array_equal(file_class[pixels // 30], labels)
    np.testing.assert_array_equal(pixels % 30, labels)
    freq = np.bincount(labels, minlength=3) / len(labels)
    assert np.all(np.abs(freq - 1 / 3) <= 5 * np.sqrt(2 / 9 / len(labels))), freq


def test_load_folder_file_backed(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("a", 12), ("b", 5)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    in_memory = data.load_folder(str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    backed = data.load_dataset(f"folder:{tmp_path}", val_fraction=0.2, test_fraction=0.2,
                               file_backed=True)
    assert isinstance(backed.train[0], data.ImageFiles)
    assert backed.image_shape == in_memory.image_shape == (6, 6, 3)
    assert backed.class_counts == in_memory.class_counts
    np.testing.assert_array_equal(np.asarray(backed.train[0]), in_memory.train[0])
    for split in ("val", "test"):
        assert isinstance(getattr(backed, split)[0], np.ndarray)
        np.testing.assert_array_equal(getattr(backed, split)[0], getattr(in_memory, split)[0])
    with pytest.raises(TypeError, match="file_backed"):
        data.load_folder(str(tmp_path), file_backed="yes")
    # the methods' training pipelines take the file-backed split
    for name in ("ce", "balanced-mixup"):
        ds, steps = methods.get(name).train_dataset(backed, batch_size=4, seed=0)
        images, labels = next(iter(ds))
        assert images.shape == (4, 6, 6, 3) and labels.shape == (4, 2) and steps == 3
