"""Tests for `load_folder`: flat and pre-split layouts, colour modes, resizing, bad folders."""

import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

from kerasimb.data import ImageDataset, load_dataset, load_folder, read_image
from kerasimb.data.folder import stratified_split
from kerasimb.testing import TestCase


def round_half_up(x):
    return int(np.floor(x + 0.5))


class FolderTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        self.next_id = 1

    def add_images(self, folder, count, size=(6, 6), mode="L", ext=".png"):
        """Writes `count` images whose pixels all equal a unique id (1, 2, ...); returns ids."""
        folder = os.path.join(self.root, folder)
        os.makedirs(folder, exist_ok=True)
        ids = []
        for _ in range(count):
            value = self.next_id
            self.next_id += 1
            shape = (size[0], size[1]) if mode == "L" else (size[0], size[1], 3)
            array = np.full(shape, value, np.uint8)
            if mode == "RGB":
                array[..., 1] = 255 - value  # a genuinely colour image
            Image.fromarray(array, mode if mode != "RGB-grey" else "RGB").save(
                os.path.join(folder, f"img_{value:04d}{ext}")
            )
            ids.append(value)
        return ids

    def ids(self, images):
        return sorted(int(v) for v in images[:, 0, 0, 0])

    def test_flat_layout_stratified_counts(self):
        benign = self.add_images("benign", 20)
        malignant = self.add_images("malignant", 7)
        ds = load_folder(self.root)
        self.assertIsInstance(ds, ImageDataset)
        self.assertEqual(ds.class_names, ["benign", "malignant"])
        self.assertEqual(ds.name, f"folder:{os.path.basename(self.root)}")
        self.assertEqual(ds.image_shape, (6, 6, 1))
        self.assertEqual(ds.train[0].dtype, np.uint8)
        # 0.15 of 20 = 3 and of 7 = 1.05 -> 1 (rounded half up), for val and for test.
        expected = {"test": [3, 1], "val": [3, 1], "train": [14, 5]}
        for split, counts in expected.items():
            self.assertEqual(np.bincount(getattr(ds, split)[1], minlength=2).tolist(), counts)
        # Every image lands in exactly one split, with its own label.
        all_ids = self.ids(np.concatenate([ds.train[0], ds.val[0], ds.test[0]]))
        self.assertEqual(all_ids, sorted(benign + malignant))
        for split in ("train", "val", "test"):
            x, y = getattr(ds, split)
            for value, label in zip(x[:, 0, 0, 0], y):
                self.assertEqual(label, 0 if value in benign else 1)

    def test_round_half_up_fractions(self):
        self.add_images("a", 10)
        self.add_images("b", 10)
        ds = load_folder(self.root, val_fraction=0.25, test_fraction=0.05)
        # 10 * 0.25 = 2.5 -> 3 and 10 * 0.05 = 0.5 -> 1.
        self.assertEqual(np.bincount(ds.val[1]).tolist(), [round_half_up(2.5)] * 2)
        self.assertEqual(np.bincount(ds.test[1]).tolist(), [round_half_up(0.5)] * 2)
        self.assertEqual(ds.class_counts, [6, 6])

    def test_seed(self):
        self.add_images("a", 12)
        self.add_images("b", 12)
        first, again = load_folder(self.root, seed=3), load_folder(self.root, seed=3)
        other = load_folder(self.root, seed=4)
        np.testing.assert_array_equal(first.test[0], again.test[0])
        self.assertNotEqual(self.ids(first.test[0]), self.ids(other.test[0]))

    def test_pre_split_layout(self):
        train = self.add_images("train/a", 5) + self.add_images("train/b", 3)
        val = self.add_images("val/a", 2) + self.add_images("val/b", 1)
        test = self.add_images("test/a", 2) + self.add_images("test/b", 2)
        ds = load_folder(self.root)
        self.assertEqual(ds.class_names, ["a", "b"])
        self.assertEqual(ds.class_counts, [5, 3])
        self.assertEqual(self.ids(ds.train[0]), train)
        self.assertEqual(self.ids(ds.val[0]), val)
        self.assertEqual(self.ids(ds.test[0]), test)
        self.assertEqual(np.bincount(ds.test[1]).tolist(), [2, 2])

    def test_pre_split_without_val_carves_it_from_train(self):
        train = self.add_images("train/a", 10) + self.add_images("train/b", 4)
        test = self.add_images("test/a", 2) + self.add_images("test/b", 2)
        ds = load_folder(self.root, val_fraction=0.2)
        self.assertEqual(np.bincount(ds.val[1]).tolist(), [2, round_half_up(0.8)])
        self.assertEqual(ds.class_counts, [8, 3])
        self.assertEqual(sorted(self.ids(ds.train[0]) + self.ids(ds.val[0])), train)
        self.assertEqual(self.ids(ds.test[0]), test)

    def test_pre_split_test_may_lack_a_class_but_not_add_one(self):
        self.add_images("train/a", 3)
        self.add_images("train/b", 3)
        self.add_images("val/a", 1)
        self.add_images("test/a", 1)
        ds = load_folder(self.root)
        self.assertEqual(len(ds.test[1]), 1)
        self.add_images("test/c", 1)
        with self.assertRaisesRegex(ValueError, r"extra class folders \['c'\]"):
            load_folder(self.root)

    def test_non_images_and_hidden_files_are_ignored(self):
        self.add_images("a", 3, ext=".PNG")
        self.add_images("b", 3, ext=".jpeg")
        for name in ("a/notes.txt", "a/thumbs.db", "b/._img_0001.png", "a/.hidden.png"):
            with open(os.path.join(self.root, name), "wb") as f:
                f.write(b"not an image")
        os.makedirs(os.path.join(self.root, ".ipynb_checkpoints"))
        ds = load_folder(self.root, val_fraction=0.34, test_fraction=0.34)
        self.assertEqual(ds.class_names, ["a", "b"])
        self.assertEqual(len(ds.train[1]) + len(ds.val[1]) + len(ds.test[1]), 6)

    def test_greyscale_folder_keeps_one_channel(self):
        self.add_images("a", 4, ext=".jpg")
        self.add_images("b", 4, mode="RGB-grey")  # RGB file with equal channels
        ds = load_folder(self.root, val_fraction=0.25, test_fraction=0.25)
        self.assertEqual(ds.image_shape, (6, 6, 1))

    def test_mixed_folder_becomes_rgb(self):
        grey = self.add_images("a", 4)
        colour = self.add_images("b", 4, mode="RGB")
        ds = load_folder(self.root, val_fraction=0.25, test_fraction=0.25)
        self.assertEqual(ds.image_shape, (6, 6, 3))
        x = np.concatenate([ds.train[0], ds.val[0], ds.test[0]])
        for image in x:
            value = int(image[0, 0, 0])
            if value in grey:
                np.testing.assert_array_equal(image, np.full((6, 6, 3), value))
            else:
                self.assertIn(value, colour)
                np.testing.assert_array_equal(image[..., 1], 255 - value)

    def test_forced_colour_modes(self):
        self.add_images("a", 4)
        colour = self.add_images("b", 4, mode="RGB")
        rgb = load_folder(self.root, val_fraction=0.25, test_fraction=0.25, grayscale=False)
        self.assertEqual(rgb.image_shape, (6, 6, 3))
        grey = load_folder(self.root, val_fraction=0.25, test_fraction=0.25, grayscale=True)
        self.assertEqual(grey.image_shape, (6, 6, 1))
        # ITU-R 601-2 luma: L = (299 R + 587 G + 114 B) / 1000.
        x, y = grey.train
        for image, label in zip(x, y):
            if label == 1:
                candidates = [round((299 * v + 587 * (255 - v) + 114 * v) / 1000) for v in colour]
                self.assertTrue(any(abs(int(image[0, 0, 0]) - c) <= 1 for c in candidates))

    def test_sixteen_bit_png(self):
        for name, value in (("a", 65535), ("b", 257 * 100)):
            os.makedirs(os.path.join(self.root, name))
            for i in range(3):
                array = np.full((4, 4), value, np.uint16)
                Image.fromarray(array).save(os.path.join(self.root, name, f"{i}.png"))
        ds = load_folder(self.root, val_fraction=0.34, test_fraction=0.34)
        values = {int(v) for v in np.concatenate([ds.train[0], ds.val[0], ds.test[0]]).ravel()}
        self.assertEqual(values, {255, 100})

    def test_resize(self):
        self.add_images("a", 4, size=(6, 9))
        self.add_images("b", 4, size=(12, 5), mode="RGB")
        ds = load_folder(self.root, image_size=8, val_fraction=0.25, test_fraction=0.25)
        self.assertEqual(ds.image_shape, (8, 8, 3))

    def test_mismatched_sizes_without_image_size(self):
        self.add_images("a", 4, size=(6, 6))
        self.add_images("b", 4, size=(6, 7))
        with self.assertRaisesRegex(ValueError, r"images of one size.*img_0001.png.*img_0005.png"):
            load_folder(self.root, val_fraction=0.25, test_fraction=0.25)

    def test_corrupt_image(self):
        self.add_images("a", 3)
        self.add_images("b", 3)
        bad = os.path.join(self.root, "b", "broken.png")
        with open(bad, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n this is not the rest of a png")
        with self.assertRaisesRegex(ValueError, "broken.png.*IEND"):  # caught by its end marker
            load_folder(self.root)

    def test_empty_class_folder(self):
        self.add_images("a", 3)
        os.makedirs(os.path.join(self.root, "b"))
        with open(os.path.join(self.root, "b", "readme.txt"), "w") as f:
            f.write("no images here")
        with self.assertRaisesRegex(ValueError, r"class folder '.*/b' with no images"):
            load_folder(self.root)

    def test_one_class_folder(self):
        self.add_images("a", 3)
        with self.assertRaisesRegex(ValueError, r"at least 2.*class folders \['a'\]"):
            load_folder(self.root)

    def test_fractions_that_leave_a_split_empty(self):
        self.add_images("a", 2)
        self.add_images("b", 2)
        # 2 * 0.15 = 0.3 rounds to 0 for every class.
        with self.assertRaisesRegex(ValueError, "test_fraction"):
            load_folder(self.root)

    def test_bad_arguments(self):
        self.add_images("a", 3)
        self.add_images("b", 3)
        with self.assertRaisesRegex(FileNotFoundError, "does not exist"):
            load_folder(os.path.join(self.root, "missing"))
        with self.assertRaisesRegex(ValueError, "which is a file"):
            load_folder(os.path.join(self.root, "a", "img_0001.png"))
        with self.assertRaisesRegex(ValueError, "val_fraction=0.0"):
            load_folder(self.root, val_fraction=0.0)
        with self.assertRaisesRegex(ValueError, "val_fraction=0.6, test_fraction=0.4"):
            load_folder(self.root, val_fraction=0.6, test_fraction=0.4)
        with self.assertRaisesRegex(TypeError, "grayscale"):
            load_folder(self.root, grayscale="yes")
        with self.assertRaisesRegex(ValueError, "image_size=0"):
            load_folder(self.root, image_size=0)
        with self.assertRaisesRegex(TypeError, "path"):
            load_folder(None)

    def test_dispatcher(self):
        self.add_images("a", 4)
        self.add_images("b", 4)
        ds = load_dataset(f"folder:{self.root}", val_fraction=0.25, test_fraction=0.25)
        self.assertEqual(ds.class_counts, [2, 2])


class StratifiedSplitTest(TestCase):
    def test_counts_and_partition(self):
        labels = np.array([0] * 10 + [1] * 3 + [2] * 1)
        rest, first, second = stratified_split(labels, (0.2, 0.5), seed=1)
        # Class 0: 2 and 5; class 1: 0.6 -> 1 and 1.5 -> 2, leaving none, so the larger part
        # (the second) gives one back; class 2: keeps its only example.
        self.assertEqual(np.bincount(labels[first], minlength=3).tolist(), [2, 1, 0])
        self.assertEqual(np.bincount(labels[second], minlength=3).tolist(), [5, 1, 0])
        self.assertEqual(np.bincount(labels[rest], minlength=3).tolist(), [3, 1, 1])
        combined = np.sort(np.concatenate([rest, first, second]))
        np.testing.assert_array_equal(combined, np.arange(len(labels)))


def test_folder_datasets_carry_their_file_names(tmp_path):
    root = tmp_path / "scans"
    for c, n in (("a", 8), ("b", 4)):
        (root / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((6, 6), 25 * i + (c == "b"), np.uint8)).save(root / c / f"{c}{i}.png")
    ds = load_folder(root, val_fraction=0.25, test_fraction=0.25, seed=0)
    names = ds.paths["train"] + ds.paths["val"] + ds.paths["test"]
    assert sorted(names) == sorted(f"{c}/{c}{i}.png" for c, n in (("a", 8), ("b", 4))
                                   for i in range(n))
    for split in ("train", "val", "test"):
        x, y = getattr(ds, split)
        for image, label, name in zip(x, y, ds.paths[split]):
            assert ds.class_names[label] == name.split("/")[0]
            np.testing.assert_array_equal(image, read_image(root / name, channels=1))


def test_read_image_sizes_and_channels(tmp_path):
    path = tmp_path / "x.png"
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(path)
    assert read_image(path).shape == (4, 6, 3)
    np.testing.assert_array_equal(read_image(path, channels=1)[..., 0],
                                  np.asarray(Image.fromarray(rgb).convert("L")))
    resized = read_image(path, image_size=(2, 3))
    np.testing.assert_array_equal(resized, np.asarray(Image.fromarray(rgb).resize((3, 2),
                                                                                  Image.BILINEAR)))
    assert read_image(path, image_size=5).shape == (5, 5, 3)
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match="bad.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="channels"):
        read_image(path, channels=2)


class DamagedImageFilesTest(TestCase):
    """Damaged files are named when the folder is loaded, not at the first training batch."""

    def setUp(self):
        super().setUp()
        self.root = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.root)
        self.next_id = 1

    add_images = FolderTest.add_images

    def make_folder(self, ext=".png"):
        self.add_images("a", 6, ext=ext)
        self.add_images("b", 6, ext=ext)
        return os.path.join(self.root, "b", f"img_0009{ext}")

    def test_truncated_png(self):
        victim = self.make_folder()
        with open(victim, "rb") as f:
            data = f.read()
        with open(victim, "wb") as f:
            f.write(data[:-20])
        for file_backed in (True, False):
            with self.assertRaisesRegex(ValueError, r"img_0009\.png.*(end|IEND)"):
                load_folder(self.root, file_backed=file_backed)

    def test_jpeg_without_end_marker(self):
        victim = self.make_folder(".jpg")
        with open(victim, "rb") as f:
            data = f.read()
        with open(victim, "wb") as f:
            f.write(data[:-2])
        with self.assertRaisesRegex(ValueError, r"img_0009\.jpg.*FFD9"):
            load_folder(self.root, file_backed=True)

    def test_not_an_image(self):
        victim = self.make_folder()
        with open(victim, "wb") as f:
            f.write(b"hello, not a picture at all")
        with self.assertRaisesRegex(ValueError, r"img_0009\.png.*neither a PNG nor a JPEG"):
            load_folder(self.root, file_backed=True)

    def test_corrupt_middle_needs_verify_images(self):
        self.add_images("a", 6)
        self.add_images("b", 6)
        rng = np.random.default_rng(0)
        victims = []
        for i in range(1, 13):  # noise images (their data fills the file), each one damaged
            path = os.path.join(self.root, "a" if i <= 6 else "b", f"img_{i:04d}.png")
            Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(path)
            victims.append(path)
        ds = load_folder(self.root, file_backed=True)  # headers and ends are intact
        train = ds.paths["train"][-1]  # not the first file, which ImageFiles reads for its size
        with open(os.path.join(self.root, train), "rb") as f:
            data = bytearray(f.read())
        middle = len(data) // 2
        data[middle:middle + 20] = b"\xff" * 20
        with open(os.path.join(self.root, train), "wb") as f:
            f.write(bytes(data))
        load_folder(self.root, file_backed=True)  # the cheap check cannot see the middle
        with self.assertRaisesRegex(ValueError, train.replace(".", r"\.")):
            load_folder(self.root, file_backed=True, verify_images=True)
        with self.assertRaisesRegex(ValueError, train.replace(".", r"\.")):
            load_dataset(f"folder:{self.root}", file_backed=True, verify_images=True)
