"""Tests for `ImageDataset`: validation on creation and its derived properties."""

import dataclasses

import numpy as np

from kerasimb.data import ImageDataset
from kerasimb.testing import TestCase


def split(labels, shape=(4, 4, 1), dtype="uint8"):
    labels = np.asarray(labels)
    return np.zeros((len(labels),) + shape, dtype), labels


def make(train=(0, 0, 0, 1), val=(0, 1), test=(1, 0), class_names=("a", "b"), **kwargs):
    """An `ImageDataset` of blank 4x4 images with the given labels per split."""
    return ImageDataset(
        train=split(train),
        val=split(val),
        test=split(test),
        class_names=list(class_names),
        **kwargs,
    )


class ImageDatasetTest(TestCase):
    def test_properties(self):
        ds = make(train=[0, 0, 0, 0, 2, 1, 1], class_names=["normal", "benign", "malignant"],
                  name="toy", ordinal=True)
        self.assertEqual(ds.num_classes, 3)
        self.assertEqual(ds.class_counts, [4, 2, 1])
        self.assertEqual(ds.image_shape, (4, 4, 1))
        self.assertEqual(ds.imbalance_ratio, 4.0)
        self.assertTrue(ds.ordinal)
        self.assertEqual(ds.name, "toy")
        summary = ds.summary()
        self.assertIn("toy: 3 classes", summary)
        self.assertIn("train/val/test = 7/2/2", summary)
        self.assertIn("malignant: 1", summary)
        self.assertIn("ordinal", summary)

    def test_labels_are_normalised(self):
        x = np.zeros((4, 3, 3, 1), np.uint8)
        ds = ImageDataset((x, np.array([[0], [1], [1], [0]])), (x, [0, 1, 0, 1]),
                          (x, np.array([0.0, 1.0, 1.0, 0.0])), ["a", "b"])
        for part in (ds.train, ds.val, ds.test):
            self.assertEqual(part[1].dtype, np.int64)
            self.assertEqual(part[1].shape, (4,))
        self.assertEqual(ds.class_names, ["a", "b"])

    def test_class_names_become_strings(self):
        ds = make(class_names=(0, 1))
        self.assertEqual(ds.class_names, ["0", "1"])

    def test_frozen(self):
        ds = make()
        with self.assertRaises(dataclasses.FrozenInstanceError):
            ds.name = "other"

    def test_float_images(self):
        x = np.full((2, 4, 4, 3), 0.5, np.float32)
        ds = ImageDataset((x, [0, 1]), (x, [0, 1]), (x, [1, 0]), ["a", "b"])
        self.assertEqual(ds.image_shape, (4, 4, 3))

    def test_wrong_image_rank(self):
        x = np.zeros((4, 4, 4), np.uint8)
        with self.assertRaisesRegex(ValueError, r"`train images`.*shape \(4, 4, 4\)"):
            ImageDataset((x, [0, 0, 1, 1]), split([0, 1]), split([0, 1]), ["a", "b"])

    def test_nan_pixels(self):
        x = np.zeros((2, 4, 4, 1), np.float32)
        x[1, 0, 0, 0] = np.nan
        with self.assertRaisesRegex(ValueError, r"finite pixel values.*val images\[1\]"):
            ImageDataset(split([0, 1]), (x, [0, 1]), split([0, 1]), ["a", "b"])

    def test_integer_images_other_than_uint8(self):
        with self.assertRaisesRegex(TypeError, "uint8 or float"):
            ImageDataset(split([0, 1], dtype="int32"), split([0, 1]), split([0, 1]), ["a", "b"])

    def test_label_out_of_range(self):
        with self.assertRaisesRegex(ValueError, r"`test labels`.*\[0, 1\].*label 2"):
            make(test=[0, 2])
        with self.assertRaisesRegex(ValueError, "labels >= 0"):
            make(val=[0, -1])

    def test_non_integer_labels(self):
        x = np.zeros((2, 4, 4, 1), np.uint8)
        with self.assertRaisesRegex(ValueError, "integer-valued"):
            ImageDataset((x, [0.5, 1.0]), split([0, 1]), split([0, 1]), ["a", "b"])

    def test_empty_class_in_train(self):
        with self.assertRaisesRegex(ValueError, r"no examples for classes \['c'\]"):
            make(train=[0, 1, 0], class_names=("a", "b", "c"))

    def test_images_and_labels_of_different_lengths(self):
        x = np.zeros((3, 4, 4, 1), np.uint8)
        with self.assertRaisesRegex(ValueError, "3 images and 4 labels"):
            ImageDataset((x, [0, 1, 0, 1]), split([0, 1]), split([0, 1]), ["a", "b"])

    def test_splits_with_different_image_shapes(self):
        x = np.zeros((2, 4, 4, 3), np.uint8)
        with self.assertRaisesRegex(ValueError, r"share one image shape.*\(4, 4, 1\).*\(4, 4, 3\)"):
            ImageDataset(split([0, 1]), split([0, 1]), (x, [0, 1]), ["a", "b"])

    def test_empty_split(self):
        with self.assertRaisesRegex(ValueError, "`val`.*at least one example"):
            make(val=[])

    def test_split_not_a_pair(self):
        x, y = split([0, 1])
        with self.assertRaisesRegex(TypeError, "`train`.*pair"):
            ImageDataset(x, (x, y), (x, y), ["a", "b"])

    def test_duplicate_class_names(self):
        with self.assertRaisesRegex(ValueError, "unique names"):
            make(class_names=("a", "a"))

    def test_fewer_than_two_classes(self):
        with self.assertRaisesRegex(ValueError, "at least 2 classes"):
            make(train=[0, 0], val=[0], test=[0], class_names=("a",))

    def test_split_dtype_differs_from_train(self):
        # The same images saved as uint8 for train and float 0-255 for val: one scaling rule.
        x8 = np.full((2, 4, 4, 1), 200, np.uint8)
        xf = x8.astype(np.float32)
        with self.assertRaisesRegex(ValueError, r"`val`.*uint8.*float32.*astype\('uint8'\)"):
            ImageDataset((x8, [0, 1]), (xf, [0, 1]), (x8, [0, 1]), ["a", "b"])
        with self.assertRaisesRegex(ValueError, r"`test`.*float32.*uint8.*astype\('float32'\) / 255"):
            ImageDataset((xf / 255, [0, 1]), (xf / 255, [0, 1]), (x8, [0, 1]), ["a", "b"])

    def test_float_images_outside_unit_range(self):
        xf = np.full((2, 4, 4, 1), 200.0, np.float32)
        with self.assertRaisesRegex(ValueError, r"`train`.*\[0, 1\].*max 200.*divide by 255"):
            ImageDataset((xf, [0, 1]), (xf, [0, 1]), (xf, [0, 1]), ["a", "b"])
        ok = xf / 255
        with self.assertRaisesRegex(ValueError, r"`test`.*min -1"):
            ImageDataset((ok, [0, 1]), (ok, [0, 1]), (ok - 1.8, [0, 1]), ["a", "b"])
        # float64 val for float32 train is the same scaling rule: allowed.
        ImageDataset((ok, [0, 1]), (ok.astype("float64"), [0, 1]), (ok, [0, 1]), ["a", "b"])
