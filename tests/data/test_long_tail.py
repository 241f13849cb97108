"""Tests for `long_tailed_counts` and `make_long_tailed`."""

import numpy as np

from kerasimb.data import long_tailed_counts, make_long_tailed
from kerasimb.testing import TestCase


def id_images(y):
    """Float images whose every pixel is the example's index, to follow examples."""
    ids = np.arange(len(y), dtype=np.float32)[:, None, None, None]
    return np.broadcast_to(ids, (len(y), 2, 2, 1))


class LongTailedCountsTest(TestCase):
    def test_hand_computed_exponential_counts(self):
        self.assertEqual(long_tailed_counts(3, 100, 100.0), [100, 10, 1])
        self.assertEqual(long_tailed_counts(4, 1000, 1000.0), [1000, 100, 10, 1])
        # 50 * 10^(-i/4): 50, 28.1, 15.8, 8.9, 5.
        self.assertEqual(long_tailed_counts(5, 50, 10.0), [50, 28, 15, 8, 5])
        self.assertEqual(long_tailed_counts(2, 7, 1.0), [7, 7])

    def test_hand_computed_step_counts(self):
        self.assertEqual(long_tailed_counts(5, 100, 10.0, profile="step"), [100, 100, 100, 10, 10])
        self.assertEqual(long_tailed_counts(4, 100, 10.0, profile="step"), [100, 100, 10, 10])

    def test_every_class_keeps_one(self):
        # 10 * 100^(-1/2) = 1 and 10 / 100 = 0.1 -> 1.
        self.assertEqual(long_tailed_counts(3, 10, 100.0), [10, 1, 1])

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "num_classes=1"):
            long_tailed_counts(1, 10, 10.0)
        with self.assertRaisesRegex(ValueError, "max_count=0"):
            long_tailed_counts(3, 0, 10.0)
        with self.assertRaisesRegex(ValueError, "imbalance_ratio=0.5"):
            long_tailed_counts(3, 10, 0.5)
        with self.assertRaisesRegex(ValueError, "imbalance_ratio=inf"):
            long_tailed_counts(3, 10, float("inf"))
        expected = r"profile.*one of \['exp', 'step'\].*profile='linear'"
        with self.assertRaisesRegex(ValueError, expected):
            long_tailed_counts(3, 10, 10.0, profile="linear")
        with self.assertRaisesRegex(TypeError, "max_count"):
            long_tailed_counts(3, 10.5, 10.0)


class MakeLongTailedTest(TestCase):
    def test_keeps_only_original_examples_with_the_right_counts(self):
        y = np.repeat(np.arange(3), 100)
        x = id_images(y)
        x_lt, y_lt = make_long_tailed(x, y, imbalance_ratio=10)
        # Head 100 (all of class 0), then 100 * 10^(-1/2) = 31.6 -> 31, then 10.
        self.assertEqual(np.bincount(y_lt).tolist(), [100, 31, 10])
        ids = x_lt[:, 0, 0, 0].astype(int)
        self.assertEqual(len(set(ids.tolist())), len(ids))  # no example twice
        np.testing.assert_array_equal(y_lt, y[ids])  # each keeps its own label
        np.testing.assert_array_equal(x_lt, x[ids])
        self.assertTrue(np.all(np.diff(ids) > 0))  # original order

    def test_head_count_limited_by_the_tail(self):
        y = np.repeat(np.arange(3), [100, 100, 5])
        x = id_images(y)
        _, y_lt = make_long_tailed(x, y, imbalance_ratio=10)
        # The tail may take at most 5: floor(m / 10) <= 5 gives m <= 59; 59 / sqrt(10) = 18.66.
        self.assertEqual(np.bincount(y_lt).tolist(), [59, 18, 5])

    def test_step_profile_and_max_count(self):
        y = np.repeat(np.arange(4), 50)
        _, y_lt = make_long_tailed(id_images(y), y, imbalance_ratio=5, profile="step", max_count=40)
        self.assertEqual(np.bincount(y_lt).tolist(), [40, 40, 8, 8])

    def test_seed(self):
        y = np.repeat(np.arange(3), 50)
        x = id_images(y)
        a = make_long_tailed(x, y, 10, seed=1)[0]
        b = make_long_tailed(x, y, 10, seed=1)[0]
        c = make_long_tailed(x, y, 10, seed=2)[0]
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, c))

    def test_max_count_too_large(self):
        y = np.repeat(np.arange(3), 20)
        with self.assertRaisesRegex(ValueError, r"max_count.*at most 20.*Received: max_count=21"):
            make_long_tailed(id_images(y), y, 10, max_count=21)

    def test_empty_class(self):
        y = np.array([0, 0, 0, 2, 2])
        with self.assertRaisesRegex(ValueError, r"no examples for classes \[1\]"):
            make_long_tailed(id_images(y), y, 2)

    def test_bad_ratio_and_profile(self):
        y = np.repeat(np.arange(2), 10)
        template = "Invalid value received for argument `{}`.*{}"
        with self.assertRaisesRegex(ValueError, template.format("imbalance_ratio", "0.5")):
            make_long_tailed(id_images(y), y, 0.5)
        with self.assertRaisesRegex(ValueError, template.format("profile", "'log'")):
            make_long_tailed(id_images(y), y, 2, profile="log")

    def test_bad_arrays(self):
        y = np.repeat(np.arange(2), 10)
        with self.assertRaisesRegex(ValueError, "same number of examples"):
            make_long_tailed(id_images(y)[:-1], y, 2)
        with self.assertRaisesRegex(ValueError, "shape"):
            make_long_tailed(np.zeros((20, 4)), y, 2)
