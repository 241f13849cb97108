"""Tests for `load_medmnist`: the real files in ../shared/data, flags, bad files, download."""

import hashlib
import os
import pathlib
import shutil
import tempfile
import time
import urllib.error
from unittest import mock

import numpy as np
import pytest

from kerasimb.data import ImageDataset, load_dataset, load_medmnist
from kerasimb.data import medmnist
from kerasimb.testing import TestCase

# tests/data/test_medmnist.py -> repo root -> its parent holds shared/data (see SOURCE.md).
SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"

# From ../shared/data/SOURCE.md: train, val and test counts per class.
EXPECTED = {
    "breastmnist.npz": {
        "name": "medmnist:breastmnist",
        "class_names": ["malignant", "normal, benign"],
        "train": [147, 399], "val": [21, 57], "test": [42, 114],
    },
    "pneumoniamnist.npz": {
        "name": "medmnist:pneumoniamnist",
        "class_names": ["normal", "pneumonia"],
        "train": [1214, 3494], "val": [135, 389], "test": [234, 390],
    },
    "pneumoniamnist_lt.npz": {
        "name": "medmnist:pneumoniamnist_lt",
        "class_names": ["normal", "pneumonia"],
        "train": [388, 3494], "val": [135, 389], "test": [234, 390],
    },
}
BREAST_MD5 = "750601b1f35ba3300ea97c75c52ff8f6"  # SOURCE.md: byte-identical to the official file


def shared_file(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared MedMNIST data not found at {SHARED}")
    return path


def write_npz(path, n=(12, 4, 4), num_classes=2, size=6, **overrides):
    """Writes a small MedMNIST-layout npz; `overrides` replace or (with None) drop arrays."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % num_classes).reshape(-1, 1)
    for key, value in overrides.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    np.savez(path, **arrays)
    return str(path)


class SharedFilesTest(TestCase):
    def test_counts_shapes_and_names(self):
        for file, expected in EXPECTED.items():
            with self.subTest(file=file):
                ds = load_medmnist(str(shared_file(file)))
                self.assertIsInstance(ds, ImageDataset)
                self.assertEqual(ds.name, expected["name"])
                self.assertEqual(ds.class_names, expected["class_names"])
                self.assertFalse(ds.ordinal)
                for split in ("train", "val", "test"):
                    x, y = getattr(ds, split)
                    self.assertEqual(np.bincount(y, minlength=2).tolist(), expected[split])
                    self.assertEqual(x.shape, (sum(expected[split]), 28, 28, 1))
                    self.assertEqual(x.dtype, np.uint8)
                    self.assertEqual(y.dtype, np.int64)
                self.assertEqual(ds.class_counts, expected["train"])

    def test_arrays_are_the_file_contents(self):
        path = shared_file("breastmnist.npz")
        ds = load_medmnist(str(path))
        with np.load(path) as raw:
            for split in ("train", "val", "test"):
                np.testing.assert_array_equal(getattr(ds, split)[0][..., 0], raw[f"{split}_images"])
                np.testing.assert_array_equal(getattr(ds, split)[1], raw[f"{split}_labels"][:, 0])

    def test_official_md5_table_matches_the_official_file(self):
        path = shared_file("breastmnist.npz")
        self.assertEqual(hashlib.md5(path.read_bytes()).hexdigest(), BREAST_MD5)
        self.assertEqual(medmnist.FLAGS["breastmnist"]["md5"], BREAST_MD5)

    def test_local_file_with_other_md5_is_accepted(self):
        # SOURCE.md: this copy is re-ordered, so its md5 is not the official one.
        path = shared_file("pneumoniamnist.npz")
        self.assertNotEqual(
            hashlib.md5(path.read_bytes()).hexdigest(), medmnist.FLAGS["pneumoniamnist"]["md5"]
        )
        ds = load_medmnist("pneumoniamnist", data_dir=str(SHARED))
        self.assertEqual(ds.class_counts, [1214, 3494])

    def test_by_flag_with_data_dir(self):
        shared_file("breastmnist.npz")
        ds = load_medmnist("breastmnist", data_dir=str(SHARED))
        self.assertEqual(ds.name, "medmnist:breastmnist")
        self.assertEqual(ds.class_counts, [147, 399])

    def test_by_flag_is_case_insensitive_and_takes_path_like_dir(self):
        shared_file("breastmnist.npz")
        ds = load_medmnist("BreastMNIST", data_dir=SHARED)
        self.assertEqual(ds.name, "medmnist:breastmnist")

    def test_by_flag_from_environment(self):
        shared_file("breastmnist.npz")
        with mock.patch.dict(os.environ, {"KERASIMB_DATA": str(SHARED)}):
            ds = load_medmnist("breastmnist")
        self.assertEqual(ds.class_counts, [147, 399])

    def test_data_dir_argument_wins_over_environment(self):
        shared_file("breastmnist.npz")
        with mock.patch.dict(os.environ, {"KERASIMB_DATA": "/nonexistent/kerasimb"}):
            ds = load_medmnist("breastmnist", data_dir=str(SHARED))
        self.assertEqual(ds.num_classes, 2)

    def test_relative_path_is_looked_up_in_data_dir(self):
        shared_file("pneumoniamnist_lt.npz")
        ds = load_medmnist("pneumoniamnist_lt.npz", data_dir=str(SHARED))
        self.assertEqual(ds.class_counts, [388, 3494])

    def test_dispatcher(self):
        shared_file("pneumoniamnist_lt.npz")
        ds = load_dataset("medmnist:pneumoniamnist", data_dir=str(SHARED))
        self.assertEqual(ds.class_counts, [1214, 3494])
        ds = load_dataset(f"medmnist:{SHARED / 'pneumoniamnist_lt.npz'}")
        self.assertEqual(ds.name, "medmnist:pneumoniamnist_lt")
        self.assertEqual(ds.imbalance_ratio, 3494 / 388)

    def test_image_size(self):
        ds = load_medmnist(str(shared_file("breastmnist.npz")), image_size=32)
        self.assertEqual(ds.image_shape, (32, 32, 1))
        self.assertEqual(ds.train[0].dtype, np.uint8)
        self.assertEqual(ds.class_counts, [147, 399])


class SyntheticFilesTest(TestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_unknown_file_gets_numeric_class_names(self):
        path = write_npz(self.path("mine.npz"), num_classes=3)
        ds = load_medmnist(path)
        self.assertEqual(ds.class_names, ["0", "1", "2"])
        self.assertEqual(ds.name, "medmnist:mine")
        self.assertEqual(ds.image_shape, (6, 6, 1))
        self.assertEqual(ds.class_counts, [4, 4, 4])

    def test_label_only_in_val_is_an_error(self):
        # Label 2 only in val: an unknown file declares no classes, so 2 is not a class.
        val_labels = np.array([[0], [1], [2], [0]])
        path = write_npz(self.path("mine.npz"), val_labels=val_labels)
        with self.assertRaisesRegex(ValueError, r"val_labels\[index 2\] has value 2"):
            load_medmnist(path)

    def test_rgb_images_and_flat_labels(self):
        sizes = {"train": 12, "val": 4, "test": 4}
        rgb = {f"{s}_images": np.zeros((n, 5, 5, 3), np.uint8) for s, n in sizes.items()}
        path = write_npz(self.path("rgb.npz"), train_labels=np.arange(12) % 2, **rgb)
        ds = load_medmnist(path, image_size=7)
        self.assertEqual(ds.train[0].shape, (12, 7, 7, 3))

    def test_retinamnist_flag_is_ordinal(self):
        write_npz(self.path("retinamnist.npz"), num_classes=5, n=(10, 5, 5))
        ds = load_medmnist("retinamnist", data_dir=self.dir)
        self.assertTrue(ds.ordinal)
        self.assertEqual(ds.class_names, ["0", "1", "2", "3", "4"])
        self.assertEqual(ds.name, "medmnist:retinamnist")

    def test_known_flag_prefix_gives_official_names(self):
        path = write_npz(self.path("dermamnist_lt.npz"), num_classes=7, n=(14, 7, 7))
        ds = load_medmnist(path)
        self.assertEqual(ds.class_names[4], "melanoma")
        self.assertEqual(ds.num_classes, 7)
        self.assertFalse(ds.ordinal)

    def test_text_file_named_npz(self):
        path = self.path("notes.npz")
        with open(path, "w") as f:
            f.write("these are not arrays\n")
        with self.assertRaisesRegex(ValueError, "could not read .*notes.npz"):
            load_medmnist(path)

    def test_npy_file_named_npz(self):
        path = self.path("single.npz")
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
        with self.assertRaisesRegex(ValueError, "single .npy array"):
            load_medmnist(path)

    def test_truncated_npz(self):
        path = write_npz(self.path("cut.npz"))
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[: len(data) // 2])
        with self.assertRaisesRegex(ValueError, "cut.npz"):
            load_medmnist(path)

    def test_missing_keys_are_listed(self):
        path = write_npz(self.path("partial.npz"), val_images=None, test_labels=None)
        with self.assertRaisesRegex(
            ValueError, r"partial.npz is missing \['val_images', 'test_labels'\]"
        ):
            load_medmnist(path)

    def test_multi_label_file(self):
        labels = np.zeros((12, 3), np.uint8)
        path = write_npz(self.path("findings.npz"), train_labels=labels)
        with self.assertRaisesRegex(ValueError, "multi-label"):
            load_medmnist(path)

    def test_chestmnist_flag_is_refused_before_looking_for_the_file(self):
        with self.assertRaisesRegex(ValueError, "multi-label.*Received: flag_or_path='chestmnist'"):
            load_medmnist("chestmnist", data_dir=self.dir)

    def test_labels_out_of_range_for_known_flag(self):
        labels = np.array([0, 1, 2, 0, 1, 0, 1, 0, 1, 0, 1, 0]).reshape(-1, 1)
        path = write_npz(self.path("breastmnist_extra.npz"), train_labels=labels)
        with self.assertRaisesRegex(ValueError, r"labels in \[0, 1\].*breastmnist"):
            load_medmnist(path)

    def test_negative_labels(self):
        labels = -(np.arange(12) % 2).reshape(-1, 1)
        path = write_npz(self.path("mine.npz"), train_labels=labels)
        with self.assertRaisesRegex(ValueError, "labels >= 0"):
            load_medmnist(path)

    def test_mismatched_lengths(self):
        path = write_npz(self.path("mine.npz"), test_labels=np.zeros((3, 1), np.uint8))
        with self.assertRaisesRegex(ValueError, "4 images and 3 labels.*mine.npz"):
            load_medmnist(path)

    def test_float_images_with_nan(self):
        images = np.full((12, 6, 6), 0.5, np.float32)
        images[3, 2, 2] = np.nan
        path = write_npz(self.path("mine.npz"), train_images=images)
        with self.assertRaisesRegex(ValueError, r"finite pixel values.*train images\[3\]"):
            load_medmnist(path)

    def test_integer_images_other_than_uint8(self):
        path = write_npz(self.path("mine.npz"), val_images=np.zeros((4, 6, 6), np.int16))
        with self.assertRaisesRegex(TypeError, "uint8 or float"):
            load_medmnist(path)

    def test_images_of_wrong_rank(self):
        path = write_npz(self.path("mine.npz"), train_images=np.zeros((12, 36), np.uint8))
        with self.assertRaisesRegex(ValueError, r"`train_images` of shape.*\(12, 36\)"):
            load_medmnist(path)

    def test_splits_of_different_image_size(self):
        path = write_npz(self.path("mine.npz"), test_images=np.zeros((4, 7, 7), np.uint8))
        with self.assertRaisesRegex(ValueError, "share one image shape"):
            load_medmnist(path)

    def test_unknown_flag(self):
        expected = r"MedMNIST v2 2D flag.*'pathmnist'.*Received: flag_or_path='lungmnist'"
        with self.assertRaisesRegex(ValueError, expected):
            load_medmnist("lungmnist", data_dir=self.dir)

    def test_3d_flag(self):
        with self.assertRaisesRegex(ValueError, "3D"):
            load_medmnist("organmnist3d", data_dir=self.dir)

    def test_missing_flag_file_message(self):
        expected = os.path.join(self.dir, "dermamnist.npz")
        with self.assertRaises(FileNotFoundError) as caught:
            load_medmnist("dermamnist", data_dir=self.dir)
        message = str(caught.exception)
        self.assertIn(expected, message)
        self.assertIn("KERASIMB_DATA", message)
        self.assertIn("download=True", message)

    def test_missing_flag_file_without_any_data_dir(self):
        env = {k: v for k, v in os.environ.items() if k != "KERASIMB_DATA"}
        with mock.patch.dict(os.environ, env, clear=True), mock.patch.object(
            medmnist, "DEFAULT_DATA_DIR", self.dir
        ):
            expected = "neither `data_dir` nor \\$KERASIMB_DATA"
            with self.assertRaisesRegex(FileNotFoundError, expected):
                load_medmnist("octmnist")

    def test_missing_path(self):
        with self.assertRaisesRegex(FileNotFoundError, "nothing.npz"):
            load_medmnist(self.path("nothing.npz"))

    def test_bad_argument_types(self):
        with self.assertRaisesRegex(TypeError, "flag_or_path"):
            load_medmnist(None)
        with self.assertRaisesRegex(TypeError, "download"):
            load_medmnist("breastmnist", data_dir=self.dir, download="yes")
        with self.assertRaisesRegex(ValueError, "image_size=0"):
            load_medmnist("breastmnist", data_dir=self.dir, image_size=0)
        with self.assertRaisesRegex(TypeError, "data_dir"):
            load_medmnist("breastmnist", data_dir=3)


class DownloadTest(TestCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.calls = []
        self.probes = []
        patcher = mock.patch.object(medmnist, "check_connection", self.probes.append)
        patcher.start()
        self.addCleanup(patcher.stop)

    def fake_fetch(self, source):
        def fetch(url, destination, timeout):
            self.calls.append((url, destination, timeout))
            shutil.copyfile(source, destination)
        return fetch

    def test_download_verifies_md5_and_renames(self):
        source = shared_file("breastmnist.npz")
        target = os.path.join(self.dir, "cache")
        with mock.patch.object(medmnist, "_fetch", self.fake_fetch(source)):
            ds = load_medmnist("breastmnist", data_dir=target, download=True)
        self.assertEqual(ds.class_counts, [147, 399])
        self.assertEqual(os.listdir(target), ["breastmnist.npz"])
        (url, destination, timeout), = self.calls
        self.assertEqual(url, "https://zenodo.org/record/6496656/files/breastmnist.npz?download=1")
        self.assertNotEqual(destination, os.path.join(target, "breastmnist.npz"))
        self.assertGreater(timeout, 0)
        # The file is now local: a second call does not fetch again.
        with mock.patch.object(medmnist, "_fetch", self.fake_fetch(source)):
            load_medmnist("breastmnist", data_dir=target, download=True)
        self.assertEqual(len(self.calls), 1)

    def test_md5_mismatch_deletes_the_download(self):
        source = write_npz(os.path.join(self.dir, "impostor.npz"))
        target = os.path.join(self.dir, "cache")
        with mock.patch.object(medmnist, "_fetch", self.fake_fetch(source)):
            with self.assertRaisesRegex(ValueError, "md5 750601b1f35ba3300ea97c75c52ff8f6"):
                load_medmnist("breastmnist", data_dir=target, download=True)
        self.assertEqual(os.listdir(target), [])
        self.assertFalse(os.path.exists(self.calls[0][1]))

    def test_offline_fails_at_once_without_fetching(self):
        mock.patch.stopall()  # the real connection check, with no connection possible

        def unreachable(address, *args, **kwargs):
            self.probes.append(address)
            raise OSError("[Errno 101] Network is unreachable")

        def fetch(*args):
            raise AssertionError("fetched without a connection")

        start = time.perf_counter()
        with mock.patch("socket.create_connection", unreachable), \
                mock.patch.object(medmnist, "_fetch", fetch):
            with self.assertRaisesRegex(ConnectionError, r"`breastmnist` needs the network.*"
                                                         r"zenodo.org:443 cannot be reached"):
                load_medmnist("breastmnist", data_dir=self.dir, download=True)
        self.assertLess(time.perf_counter() - start, 10)
        self.assertEqual(self.probes, [("zenodo.org", 443)])
        self.assertEqual(os.listdir(self.dir), [])

    def test_download_checks_the_connection_first(self):
        source = shared_file("breastmnist.npz")
        with mock.patch.object(medmnist, "_fetch", self.fake_fetch(source)):
            load_medmnist("breastmnist", data_dir=self.dir, download=True)
        self.assertEqual(self.probes, ["zenodo.org"])

    def test_network_error_deletes_the_partial_file(self):
        def fetch(url, destination, timeout):
            self.calls.append(destination)
            with open(destination, "wb") as f:
                f.write(b"partial")
            raise urllib.error.URLError("no route to host")

        with mock.patch.object(medmnist, "_fetch", fetch):
            with self.assertRaisesRegex(OSError, "Could not download.*no route to host"):
                load_medmnist("breastmnist", data_dir=self.dir, download=True)
        self.assertEqual(os.listdir(self.dir), [])

    def test_download_into_environment_dir(self):
        source = shared_file("breastmnist.npz")
        with mock.patch.dict(os.environ, {"KERASIMB_DATA": self.dir}), mock.patch.object(
            medmnist, "_fetch", self.fake_fetch(source)
        ):
            load_medmnist("breastmnist", download=True)
        self.assertEqual(os.listdir(self.dir), ["breastmnist.npz"])

    def test_download_needs_a_flag(self):
        with self.assertRaisesRegex(FileNotFoundError, "only works with a flag"):
            load_medmnist(os.path.join(self.dir, "breastmnist.npz"), download=True)


class FlagTableTest(TestCase):
    def test_table_is_complete(self):
        expected_flags = {
            "pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist",
            "breastmnist", "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist",
        }
        self.assertEqual(set(medmnist.FLAGS), expected_flags)
        sizes = {"pathmnist": 9, "chestmnist": 14, "dermamnist": 7, "octmnist": 4,
                 "pneumoniamnist": 2, "retinamnist": 5, "breastmnist": 2, "bloodmnist": 8,
                 "tissuemnist": 8, "organamnist": 11, "organcmnist": 11, "organsmnist": 11}
        for flag, facts in medmnist.FLAGS.items():
            with self.subTest(flag=flag):
                self.assertEqual(len(facts["class_names"]), sizes[flag])
                self.assertRegex(facts["md5"], "^[0-9a-f]{32}$")
                self.assertTrue(facts["url"].startswith("https://zenodo.org/"))
                self.assertIn(f"/{flag}.npz", facts["url"])


class UnreadableNpzTest(TestCase):
    """A corrupt `.npz` is named, never answered with numpy's advice to unpickle it."""

    def bad_files(self, tmp):
        good = os.path.join(tmp, "good.npz")
        np.savez(good, **{f"{s}_{k}": (np.zeros((4, 4, 4), np.uint8) if k == "images"
                                       else np.array([0, 1, 0, 1]))
                          for s in ("train", "val", "test") for k in ("images", "labels")})
        with open(good, "rb") as f:
            data = f.read()
        truncated = os.path.join(tmp, "truncated.npz")
        with open(truncated, "wb") as f:
            f.write(data[: len(data) - 40])
        text = os.path.join(tmp, "text.npz")
        with open(text, "w") as f:
            f.write("not arrays\n")
        objects = os.path.join(tmp, "objects.npz")
        arrays = dict(np.load(good))
        arrays["train_labels"] = np.array([0, 1, "x", None], dtype=object)
        np.savez(objects, **arrays)
        return [truncated, text, objects]

    def test_message_names_the_file_and_never_suggests_pickle(self):
        from kerasimb.runs.predict import _npz_images
        with tempfile.TemporaryDirectory() as tmp:
            for path in self.bad_files(tmp):
                for load in (load_medmnist, lambda p: _npz_images(p, "train_labels")):
                    with self.assertRaises(ValueError) as caught:
                        load(path)
                    message = str(caught.exception)
                    self.assertIn(path, message)
                    self.assertIn("could not read", message)
                    self.assertIn("kerasimb never loads", message)
                    self.assertNotIn("allow_pickle", message)
                    self.assertNotIn("pickle.load", message)


class UndeclaredLabelsTest(TestCase):
    """A plain `.npz` (no MedMNIST flag) declares no classes: labels must make sense alone."""

    def load(self, tmp, name="plain.npz", **labels):
        overrides = {key: np.asarray(y) for key, y in labels.items()}
        return load_medmnist(write_npz(os.path.join(tmp, name), **overrides))

    def test_one_mistyped_training_label(self):
        train = np.arange(12) % 2
        train[5] = 7
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(
                    ValueError, r"train_labels.*index 5.*value 7.*1 training example"):
                self.load(tmp, train_labels=train)

    def test_class_only_in_val_or_test(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(ValueError, r"val_labels.*index 2.*value 2.*not in"):
                self.load(tmp, val_labels=[0, 1, 2, 1])
            with self.assertRaisesRegex(ValueError, r"test_labels.*index 3.*value 9"):
                self.load(tmp, test_labels=[0, 1, 0, 9])

    def test_declared_classes_reject_any_label_outside(self):
        # A file named after a flag declares the flag's classes (breastmnist: 2).
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(ValueError, r"test labels.*label 7 at index 1"):
                self.load(tmp, name="breastmnist_x.npz", test_labels=[0, 7, 0, 1])

    def test_valid_plain_file_still_loads(self):
        with tempfile.TemporaryDirectory() as tmp:
            ds = self.load(tmp)
        self.assertEqual(ds.num_classes, 2)
