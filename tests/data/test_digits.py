"""Tests for `load_digits_lt`, the embedded default dataset."""

import collections

import numpy as np
from sklearn.datasets import load_digits

from kerasimb.data import ImageDataset, load_digits_lt
from kerasimb.testing import TestCase


def exp_counts(head, ratio, num_classes=10):
    return [int(np.floor(head * ratio ** (-i / (num_classes - 1)))) for i in range(num_classes)]


class DigitsTest(TestCase):
    def test_default_counts_follow_the_exponential_profile(self):
        ds = load_digits_lt()
        self.assertIsInstance(ds, ImageDataset)
        self.assertEqual(ds.name, "digits-lt")
        self.assertEqual(ds.class_names, [str(d) for d in range(10)])
        self.assertEqual(ds.class_counts, [100, 59, 35, 21, 12, 7, 4, 2, 1, 1])
        self.assertEqual(ds.class_counts, exp_counts(100, 100.0))
        self.assertEqual(ds.imbalance_ratio, 100.0)
        self.assertFalse(ds.ordinal)

    def test_step_profile(self):
        ds = load_digits_lt(profile="step")
        # Classes 0-4 keep the head count (rounded down to a multiple of 100), 5-9 get 1/100 of it.
        self.assertEqual(ds.class_counts, [100] * 5 + [1] * 5)

    def test_ratio_ten_is_exact(self):
        ds = load_digits_lt(imbalance_ratio=10, image_size=8)
        counts = ds.class_counts
        self.assertEqual(counts[0] % 10, 0)
        self.assertEqual(counts[0] / counts[-1], 10.0)
        self.assertEqual(counts, exp_counts(counts[0], 10.0))
        # The head fits within what digit 0 has left after 60 val/test images.
        self.assertLessEqual(counts[0], int(np.sum(load_digits().target == 0)) - 60)

    def test_balanced_val_and_test(self):
        ds = load_digits_lt(val_per_class=5, test_per_class=7)
        self.assertEqual(np.bincount(ds.val[1]).tolist(), [5] * 10)
        self.assertEqual(np.bincount(ds.test[1]).tolist(), [7] * 10)

    def test_images(self):
        ds = load_digits_lt()
        self.assertEqual(ds.image_shape, (28, 28, 1))
        self.assertEqual(ds.train[0].dtype, np.uint8)
        small = load_digits_lt(image_size=8)
        self.assertEqual(small.image_shape, (8, 8, 1))
        # At the native size, images are sklearn's 0-16 pixels scaled to 0-255.
        digits = load_digits()
        originals = {np.round(img * 255 / 16).astype(np.uint8).tobytes() for img in digits.images}
        for image in small.test[0][:20]:
            self.assertIn(image[..., 0].tobytes(), originals)

    def test_no_image_is_used_twice(self):
        ds = load_digits_lt(image_size=8)
        available = collections.Counter(
            np.round(img * 255 / 16).astype(np.uint8).tobytes() for img in load_digits().images
        )
        used = collections.Counter(
            image[..., 0].tobytes() for x in (ds.train[0], ds.val[0], ds.test[0]) for image in x
        )
        self.assertEqual(sum(used.values()), sum(ds.class_counts) + 600)
        for image, count in used.items():
            self.assertLessEqual(count, available[image])

    def test_seed(self):
        a, b = load_digits_lt(seed=1), load_digits_lt(seed=1)
        c = load_digits_lt(seed=2)
        np.testing.assert_array_equal(a.train[0], b.train[0])
        np.testing.assert_array_equal(a.test[1], b.test[1])
        self.assertFalse(np.array_equal(a.train[0], c.train[0]))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "image_size=4"):
            load_digits_lt(image_size=4)
        with self.assertRaisesRegex(TypeError, "image_size"):
            load_digits_lt(image_size="28")
        with self.assertRaisesRegex(ValueError, "val_per_class=0"):
            load_digits_lt(val_per_class=0)
        with self.assertRaisesRegex(ValueError, "val_per_class=100, test_per_class=100"):
            load_digits_lt(val_per_class=100, test_per_class=100)
        with self.assertRaisesRegex(ValueError, "imbalance_ratio=0.5"):
            load_digits_lt(imbalance_ratio=0.5)
        with self.assertRaisesRegex(ValueError, "profile='linear'"):
            load_digits_lt(profile="linear")
