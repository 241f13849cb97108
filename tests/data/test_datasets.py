"""Tests for `load_dataset`, the one entry point for every data source."""

from kerasimb.data import DATASETS, ImageDataset, load_dataset, load_digits_lt, load_medmnist
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
        self.assertEqual(DATASETS.names(), ["digits-lt", "folder:", "medmnist:", "tfds:"])
        self.assertIs(DATASETS.get("digits-lt"), load_digits_lt)
        self.assertIs(DATASETS.get("medmnist:"), load_medmnist)
        for name, aliases, description in DATASETS.describe():
            self.assertTrue(callable(DATASETS.get(name)))
            self.assertEqual(aliases, ())
            self.assertIsInstance(description, str)

    def test_a_registered_source_loads_by_name_and_prefix(self):
        calls = []
        DATASETS.register("test-only", lambda **kw: calls.append(("plain", kw)) or "plain")
        DATASETS.register("test-only:", lambda rest, **kw: calls.append((rest, kw)) or "prefixed")
        self.addCleanup(DATASETS.unregister, "test-only")
        self.addCleanup(DATASETS.unregister, "test-only:")
        self.assertEqual(load_dataset("test-only", a=1), "plain")
        self.assertEqual(load_dataset("test-only:x/y", b=2), "prefixed")
        self.assertEqual(calls, [("plain", {"a": 1}), ("x/y", {"b": 2})])

    def test_prefix_passes_the_rest_to_the_loader(self):
        with self.assertRaisesRegex(ValueError, "Received: flag_or_path='nosuchmnist'"):
            load_dataset("medmnist:nosuchmnist", data_dir="/nonexistent")
        with self.assertRaisesRegex(FileNotFoundError, "nowhere/at/all"):
            load_dataset("folder:/nowhere/at/all")

    def test_unknown_name(self):
        expected = ("Invalid value received for argument `name`. Expected one of `digits-lt`, "
                    "`folder:<...>`, `medmnist:<...>`, `tfds:<...>`. Received: name='cifar-lt'")
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
