"""Tests for `load_dataset`, the one entry point for every data source."""

from kerasimb.data import SOURCES, ImageDataset, load_dataset
from kerasimb.testing import TestCase


class LoadDatasetTest(TestCase):
    def test_default_is_digits_lt(self):
        ds = load_dataset(imbalance_ratio=10, image_size=8)
        self.assertIsInstance(ds, ImageDataset)
        self.assertEqual(ds.name, "digits-lt")
        self.assertEqual(ds.class_counts[0] / ds.class_counts[-1], 10.0)

    def test_by_name_with_kwargs(self):
        ds = load_dataset("digits-lt", image_size=16, val_per_class=3, test_per_class=4)
        self.assertEqual(ds.image_shape, (16, 16, 1))
        self.assertEqual(len(ds.val[1]), 30)
        self.assertEqual(len(ds.test[1]), 40)

    def test_sources_are_listed(self):
        self.assertEqual(set(SOURCES), {"digits-lt", "medmnist:", "folder:", "tfds:"})
        for loader, description in SOURCES.values():
            self.assertTrue(callable(loader))
            self.assertIsInstance(description, str)

    def test_prefix_passes_the_rest_to_the_loader(self):
        with self.assertRaisesRegex(ValueError, "Received: flag_or_path='nosuchmnist'"):
            load_dataset("medmnist:nosuchmnist", data_dir="/nonexistent")
        with self.assertRaisesRegex(FileNotFoundError, "nowhere/at/all"):
            load_dataset("folder:/nowhere/at/all")

    def test_unknown_name(self):
        expected = "Invalid value received for argument `name`.*Received: name='cifar-lt'"
        with self.assertRaisesRegex(ValueError, expected):
            load_dataset("cifar-lt")
        with self.assertRaisesRegex(ValueError, "Received: name='digits'"):
            load_dataset("digits")

    def test_nothing_after_the_colon(self):
        for name in ("medmnist:", "folder:", "tfds:"):
            expected = f"something after the colon.*Received: name='{name}'"
            with self.assertRaisesRegex(ValueError, expected):
                load_dataset(name)

    def test_name_must_be_a_string(self):
        with self.assertRaisesRegex(TypeError, "name"):
            load_dataset(3)

    def test_unknown_kwarg_for_the_loader(self):
        with self.assertRaises(TypeError):
            load_dataset("digits-lt", no_such_option=1)
