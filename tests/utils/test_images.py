"""`utils.to_float_images` / `to_float_tensor`: uint8 -> [0, 1] float32, other dtypes cast."""

import numpy as np
import pytest
import tensorflow as tf

from kerasimb import utils
from kerasimb.utils.images import to_float_images, to_float_tensor

UINT8 = np.array([[0, 1, 127], [128, 254, 255]], np.uint8)
# Written out by hand: each pixel value v becomes v / 255 (float32).
EXPECTED = np.array([[0.0, 1 / 255, 127 / 255], [128 / 255, 254 / 255, 1.0]], np.float32)


def test_exported_from_utils():
    assert utils.to_float_images is to_float_images and utils.to_float_tensor is to_float_tensor


def test_uint8_is_divided_by_255():
    got = to_float_images(UINT8)
    assert got.dtype == np.float32 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, EXPECTED)
    assert got[0, 0] == 0.0 and got[1, 2] == 1.0


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint16"])
def test_other_dtypes_keep_their_values(dtype):
    x = np.array([[0, 3, 255], [300, 7, 2]]).astype(dtype)
    got = to_float_images(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([[0, 3, 255], [300, 7, 2]], np.float32))


def test_lists_and_standardised_floats():
    np.testing.assert_array_equal(to_float_images([[-1.5, 0.25]]),
                                  np.array([[-1.5, 0.25]], np.float32))


def test_tensor_version_gives_the_same_numbers():
    got = to_float_tensor(tf.constant(UINT8))
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(got.numpy(), EXPECTED)
    floats = to_float_tensor(np.array([2.0, -0.5], np.float64))
    assert floats.dtype == tf.float32
    np.testing.assert_array_equal(floats.numpy(), [2.0, -0.5])


def test_tensor_version_inside_a_tf_data_map():
    ds = tf.data.Dataset.from_tensor_slices(UINT8).batch(2).map(to_float_tensor)
    np.testing.assert_array_equal(next(iter(ds)).numpy(), EXPECTED)
