import numpy as np
import pytest

from kerasimb.utils.validation import (
    check_choice,
    check_class_counts,
    check_float,
    check_images_labels,
    check_input_shape,
    check_int,
    check_labels,
)


def test_check_int_accepts_numpy_ints_and_returns_python_int():
    value = check_int(np.int64(3), "epochs", minimum=1)
    assert value == 3 and type(value) is int


@pytest.mark.parametrize("bad", [1.5, "3", True, None])
def test_check_int_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="argument `epochs`.*Received: epochs="):
        check_int(bad, "epochs")


def test_check_int_range_message_names_bound_and_value():
    with pytest.raises(ValueError, match=r"Expected an integer >= 1\. Received: epochs=0"):
        check_int(0, "epochs", minimum=1)
    with pytest.raises(ValueError, match=r"<= 5\. Received: k=6"):
        check_int(6, "k", maximum=5)


def test_check_float_bounds_inclusive_and_exclusive():
    assert check_float(0, "alpha", minimum=0.0) == 0.0
    with pytest.raises(ValueError, match=r"> 0.0\. Received: alpha=0.0"):
        check_float(0.0, "alpha", minimum=0.0, min_inclusive=False)
    with pytest.raises(ValueError, match=r"< 1.0\. Received: beta=1.0"):
        check_float(1.0, "beta", maximum=1.0, max_inclusive=False)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_check_float_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="finite float"):
        check_float(bad, "lr")


def test_check_choice():
    assert check_choice("exp", "profile", ("exp", "step")) == "exp"
    with pytest.raises(ValueError, match=r"one of \['exp', 'step'\]\. Received: profile='lin'"):
        check_choice("lin", "profile", ("exp", "step"))


def test_check_class_counts_normalises_and_validates():
    assert check_class_counts(np.array([5, 2]), 2) == [5, 2]
    assert check_class_counts([5.0, 2.0]) == [5, 2]
    with pytest.raises(ValueError, match="Expected 3 entries"):
        check_class_counts([5, 2], 3)
    with pytest.raises(ValueError, match=r"no examples for classes \[1\]"):
        check_class_counts([5, 0, 3])
    with pytest.raises(ValueError, match="non-negative"):
        check_class_counts([5, -1])
    with pytest.raises(ValueError, match="integer counts"):
        check_class_counts([5, 1.5])
    with pytest.raises(TypeError, match="class_counts"):
        check_class_counts("55")
    with pytest.raises(ValueError, match="at least 2"):
        check_class_counts([4])


def test_check_labels_shapes_and_range():
    np.testing.assert_array_equal(check_labels([[1], [0]]), [1, 0])
    assert check_labels(np.array([1.0, 2.0])).dtype == np.int64
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 1\)"):
        check_labels(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"labels in \[0, 2\].*Received: label 3"):
        check_labels([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="labels >= 0"):
        check_labels([0, -1])
    with pytest.raises(ValueError, match="integer-valued"):
        check_labels([0.5, 1.0])
    with pytest.raises(ValueError, match="integer-valued"):
        check_labels([np.nan, 1.0])
    with pytest.raises(TypeError, match="integer labels"):
        check_labels(np.array(["a", "b"]))


def test_check_images_labels():
    x = np.zeros((3, 4, 4, 1), np.uint8)
    out_x, out_y = check_images_labels(x, [0, 1, 0])
    assert out_x is x  # no copy, no rescaling
    with pytest.raises(ValueError, match=r"\(N, height, width, channels\).*shape \(3, 4, 4\)"):
        check_images_labels(x[..., 0], [0, 1, 0])
    with pytest.raises(ValueError, match="same number of examples.*3 images and 2 labels"):
        check_images_labels(x, [0, 1])
    bad = x.astype(np.float32)
    bad[2, 1, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in x\[2\]"):
        check_images_labels(bad, [0, 1, 0])
    with pytest.raises(TypeError, match="uint8 or float"):
        check_images_labels(x.astype(np.int32), [0, 1, 0])


def test_check_input_shape():
    assert check_input_shape([28, 28, np.int64(1)]) == (28, 28, 1)
    assert type(check_input_shape((8, 8, 3))[2]) is int
    with pytest.raises(TypeError, match="Received: input_shape='28x28'"):
        check_input_shape("28x28")
    with pytest.raises(TypeError, match="Received: shape=28"):
        check_input_shape(28, name="shape")
    with pytest.raises(ValueError, match=r"tuple of 3 integers.*Received: input_shape=\(28, 28\)"):
        check_input_shape((28, 28))
    with pytest.raises(ValueError, match="input_shape=0"):
        check_input_shape((0, 28, 1))
    with pytest.raises(TypeError, match="input_shape=2.5"):
        check_input_shape((2.5, 28, 1))
