"""Tests for `load_tfds`, offline: a tiny locally prepared builder, mocked data, fail-fast."""

import os
import shutil
import tempfile
import time

import numpy as np
import pytest

from kerasimb.data import ImageDataset, load_dataset, load_tfds
from kerasimb.testing import TestCase

tfds = pytest.importorskip("tensorflow_datasets")

TRAIN_COUNTS = (40, 10)  # normal, pneumonia
TEST_COUNTS = (6, 4)


class KerasimbTinyXray(tfds.core.GeneratorBasedBuilder):
    """A real (locally generated) imbalanced dataset with train and test splits only.

    Every image is filled with a unique id (train 0-49, test 100-109), so tests can follow
    each example.
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(names=["normal", "pneumonia"]),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {
            "train": self._generate_examples(0, TRAIN_COUNTS),
            "test": self._generate_examples(100, TEST_COUNTS),
        }

    def _generate_examples(self, start, counts):
        for i in range(sum(counts)):
            image = np.full((8, 8, 1), start + i, np.uint8)
            yield i, {"image": image, "label": int(i >= counts[0])}


def prepare_tiny(data_dir):
    builder = KerasimbTinyXray(data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )


def write_metadata(root, name, splits):
    """Writes tfds metadata files so `mock_data(data_dir=root)` knows the split names."""
    builder = tfds.builder(name, data_dir=root)
    builder.info.set_splits(
        tfds.core.SplitDict(
            [tfds.core.SplitInfo(name=s, shard_lengths=[1], num_bytes=0) for s in splits]
        )
    )
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)


class PreparedBuilderTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp()
        prepare_tiny(cls.dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)
        super().tearDownClass()

    def test_validation_is_carved_from_train(self):
        ds = load_tfds("kerasimb_tiny_xray", data_dir=self.dir)
        self.assertIsInstance(ds, ImageDataset)
        self.assertEqual(ds.name, "tfds:kerasimb_tiny_xray")
        self.assertEqual(ds.class_names, ["normal", "pneumonia"])
        self.assertEqual(ds.image_shape, (8, 8, 1))
        # 15% of 40 = 6 and of 10 = 1.5 -> 2 (rounded half up).
        self.assertEqual(np.bincount(ds.val[1]).tolist(), [6, 2])
        self.assertEqual(ds.class_counts, [34, 8])
        self.assertEqual(np.bincount(ds.test[1]).tolist(), list(TEST_COUNTS))
        train_ids = ds.train[0][:, 0, 0, 0].astype(int)
        val_ids = ds.val[0][:, 0, 0, 0].astype(int)
        self.assertEqual(sorted(np.concatenate([train_ids, val_ids])), list(range(50)))
        for ids, labels in ((train_ids, ds.train[1]), (val_ids, ds.val[1])):
            np.testing.assert_array_equal(labels, (ids >= TRAIN_COUNTS[0]).astype(int))
        self.assertEqual(sorted(ds.test[0][:, 0, 0, 0].astype(int)), list(range(100, 110)))

    def test_seed_and_fraction(self):
        a = load_tfds("kerasimb_tiny_xray", data_dir=self.dir, seed=1, val_fraction=0.1)
        b = load_tfds("kerasimb_tiny_xray", data_dir=self.dir, seed=1, val_fraction=0.1)
        c = load_tfds("kerasimb_tiny_xray", data_dir=self.dir, seed=2, val_fraction=0.1)
        np.testing.assert_array_equal(a.val[0], b.val[0])
        self.assertNotEqual(sorted(a.val[0][:, 0, 0, 0]), sorted(c.val[0][:, 0, 0, 0]))
        self.assertEqual(np.bincount(a.val[1]).tolist(), [4, 1])

    def test_split_map(self):
        ds = load_tfds(
            "kerasimb_tiny_xray",
            data_dir=self.dir,
            split_map={"train": "train[:80%]", "val": "train[80%:]", "test": "test"},
        )
        self.assertEqual(len(ds.train[1]) + len(ds.val[1]), 50)
        self.assertEqual(len(ds.val[1]), 10)
        ds = load_tfds("kerasimb_tiny_xray", data_dir=self.dir, split_map={"test": None})
        self.assertTrue((ds.test[0][:, 0, 0, 0] < 100).all())  # carved from train
        self.assertEqual(len(ds.train[1]) + len(ds.val[1]) + len(ds.test[1]), 50)

    def test_image_size(self):
        ds = load_tfds("kerasimb_tiny_xray", data_dir=self.dir, image_size=12)
        self.assertEqual(ds.image_shape, (12, 12, 1))
        self.assertEqual(ds.train[0].dtype, np.uint8)

    def test_dispatcher(self):
        ds = load_dataset("tfds:kerasimb_tiny_xray", data_dir=self.dir)
        self.assertEqual(ds.num_classes, 2)

    def test_bad_split_map(self):
        with self.assertRaisesRegex(ValueError, "split_map"):
            load_tfds("kerasimb_tiny_xray", data_dir=self.dir, split_map={"validation": "test"})
        with self.assertRaisesRegex(ValueError, r"Received: 'valid'"):
            load_tfds("kerasimb_tiny_xray", data_dir=self.dir, split_map={"val": "valid"})
        with self.assertRaisesRegex(ValueError, "'train'"):
            load_tfds("kerasimb_tiny_xray", data_dir=self.dir, split_map={"train": None})
        with self.assertRaisesRegex(TypeError, "split_map"):
            load_tfds("kerasimb_tiny_xray", data_dir=self.dir, split_map=["train"])

    def test_download_prepares_a_missing_dataset(self):
        # This builder downloads nothing, so `download=True` works offline.
        data_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, data_dir)
        with self.assertRaises(FileNotFoundError):
            load_tfds("kerasimb_tiny_xray", data_dir=data_dir)
        ds = load_tfds("kerasimb_tiny_xray", data_dir=data_dir, download=True)
        self.assertEqual(len(ds.test[1]), 10)


class MockedDataTest(TestCase):
    def setUp(self):
        super().setUp()
        self.meta = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.meta)

    def test_mnist_without_validation_split(self):
        write_metadata(self.meta, "mnist", ["train", "test"])
        with tfds.testing.mock_data(num_examples=200, data_dir=self.meta):
            ds = load_tfds("mnist")
        self.assertEqual(ds.class_names, [str(d) for d in range(10)])
        self.assertEqual(ds.image_shape, (28, 28, 1))
        self.assertEqual(len(ds.train[1]) + len(ds.val[1]), 200)
        self.assertEqual(len(ds.test[1]), 200)
        # Stratified carving: each class gives round-half-up(15%) of its examples.
        counts = np.bincount(np.concatenate([ds.train[1], ds.val[1]]), minlength=10)
        expected_val = [int(np.floor(0.15 * n + 0.5)) for n in counts]
        self.assertEqual(np.bincount(ds.val[1], minlength=10).tolist(), expected_val)

    def test_pneumonia_mnist_uses_its_val_split(self):
        write_metadata(self.meta, "pneumonia_mnist", ["train", "val", "test"])
        with tfds.testing.mock_data(num_examples=30, data_dir=self.meta):
            ds = load_tfds("pneumonia_mnist")
        self.assertEqual(ds.class_names, ["Normal", "Pneumonia"])
        # mock_data yields the same examples for every split.
        self.assertEqual([len(ds.train[1]), len(ds.val[1]), len(ds.test[1])], [30, 30, 30])
        np.testing.assert_array_equal(ds.train[0], ds.val[0])


class FailFastTest(TestCase):
    def test_not_prepared_fails_fast(self):
        data_dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, data_dir)
        start = time.monotonic()
        with self.assertRaises(FileNotFoundError) as caught:
            load_tfds("mnist", data_dir=data_dir)
        self.assertLess(time.monotonic() - start, 10.0)
        message = str(caught.exception)
        self.assertIn("not prepared", message)
        self.assertIn(data_dir, message)
        self.assertIn("download=True", message)
        self.assertEqual(os.listdir(data_dir), [])

    def test_unknown_dataset(self):
        with self.assertRaisesRegex(ValueError, "Received: name='no_such_dataset_kerasimb'"):
            load_tfds("no_such_dataset_kerasimb")

    def test_malformed_name(self):
        with self.assertRaisesRegex(ValueError, "Received: name='bad name!'"):
            load_tfds("bad name!")

    def test_bad_argument_types(self):
        with self.assertRaisesRegex(TypeError, "name"):
            load_tfds("")
        with self.assertRaisesRegex(TypeError, "download"):
            load_tfds("mnist", download=1)
        with self.assertRaisesRegex(ValueError, "val_fraction"):
            load_tfds("mnist", val_fraction=1.0)
