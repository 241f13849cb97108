"""Tests for `classification_dataset`, the plain instance-sampled pipeline."""

import numpy as np
import tensorflow as tf

from kerasimb.data import classification_dataset
from kerasimb.testing import TestCase


def id_data(n=10, num_classes=3, size=4):
    """uint8 images filled with their index (n <= 256) and labels index % num_classes."""
    x = np.repeat(np.arange(n, dtype=np.uint8), size * size).reshape(n, size, size, 1)
    return x, np.arange(n) % num_classes


def epoch_ids(ds):
    """The example indices of one pass over `ds`, recovered from the scaled pixels."""
    return [int(round(v * 255)) for images, _ in ds for v in images[:, 0, 0, 0].numpy()]


class ClassificationDatasetTest(TestCase):
    def test_shapes_dtypes_and_scaling(self):
        x, y = id_data(10)
        x[9] = 255
        ds = classification_dataset(x, y, 3, batch_size=4, shuffle=False)
        batches = list(ds)
        self.assertEqual([b[0].shape[0] for b in batches], [4, 4, 2])
        images, labels = batches[0]
        self.assertEqual(images.dtype, tf.float32)
        self.assertEqual(labels.dtype, tf.float32)
        self.assertEqual(tuple(images.shape), (4, 4, 4, 1))
        self.assertEqual(tuple(labels.shape), (4, 3))
        self.assertAllClose(images[:, 0, 0, 0], np.arange(4) / 255.0)
        self.assertAllClose(batches[-1][0][-1], np.ones((4, 4, 1)))
        self.assertAllClose(labels, np.eye(3)[[0, 1, 2, 0]])

    def test_one_hot_matches_each_example(self):
        x, y = id_data(30, num_classes=4)
        for images, labels in classification_dataset(x, y, 4, batch_size=7, seed=0):
            ids = np.round(images[:, 0, 0, 0].numpy() * 255).astype(int)
            self.assertAllClose(labels, np.eye(4)[y[ids]])

    def test_float_images_pass_unchanged(self):
        x = np.linspace(-1.0, 2.0, 6 * 4, dtype=np.float64).reshape(6, 2, 2, 1)
        y = np.array([0, 1] * 3)
        images, _ = next(iter(classification_dataset(x, y, 2, batch_size=6, shuffle=False)))
        self.assertEqual(images.dtype, tf.float32)
        self.assertAllClose(images, x.astype(np.float32))

    def test_every_example_once_per_epoch_in_a_new_order(self):
        x, y = id_data(50)
        ds = classification_dataset(x, y, 3, batch_size=8, seed=1)
        first, second = epoch_ids(ds), epoch_ids(ds)
        self.assertEqual(sorted(first), list(range(50)))
        self.assertEqual(sorted(second), list(range(50)))
        self.assertNotEqual(first, second)
        self.assertNotEqual(first, list(range(50)))

    def test_seed_determinism(self):
        x, y = id_data(40)
        a = epoch_ids(classification_dataset(x, y, 3, batch_size=8, seed=7))
        b = epoch_ids(classification_dataset(x, y, 3, batch_size=8, seed=7))
        c = epoch_ids(classification_dataset(x, y, 3, batch_size=8, seed=8))
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_no_shuffle_keeps_order(self):
        x, y = id_data(9)
        self.assertEqual(epoch_ids(classification_dataset(x, y, 3, batch_size=4, shuffle=False)),
                         list(range(9)))

    def test_repeat(self):
        x, y = id_data(12)
        ds = classification_dataset(x, y, 3, batch_size=4, repeat=True, seed=0)
        ids = [i for images, _ in ds.take(9) for i in np.round(images[:, 0, 0, 0].numpy() * 255)]
        self.assertEqual(len(ids), 36)
        for epoch in range(3):  # each run of 12 consecutive examples is one full epoch
            self.assertEqual(sorted(ids[12 * epoch: 12 * (epoch + 1)]), list(range(12)))

    def test_drop_remainder(self):
        x, y = id_data(10)
        ds = classification_dataset(x, y, 3, batch_size=4, drop_remainder=True, seed=0)
        self.assertEqual([b[0].shape[0] for b in ds], [4, 4])
        self.assertEqual(ds.element_spec[0].shape[0], 4)

    def test_bad_arguments(self):
        x, y = id_data(6)
        with self.assertRaisesRegex(ValueError, "batch_size=0"):
            classification_dataset(x, y, 3, batch_size=0)
        with self.assertRaisesRegex(ValueError, "num_classes=1"):
            classification_dataset(x, y, 1)
        with self.assertRaisesRegex(ValueError, r"\[0, 1\].*label 2"):
            classification_dataset(x, y, 2)
        with self.assertRaisesRegex(ValueError, "at least one example"):
            classification_dataset(x[:0], y[:0], 3)
        with self.assertRaisesRegex(ValueError, "shape"):
            classification_dataset(x[..., 0], y, 3)
        with self.assertRaisesRegex(ValueError, "5 images and 6 labels"):
            classification_dataset(x[:5], y, 3)
        with self.assertRaisesRegex(TypeError, "batch_size"):
            classification_dataset(x, y, 3, batch_size=2.0)
