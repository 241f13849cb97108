"""augment_batch: identity when disabled, exact flips, rotation against scipy, seeds, errors."""

import numpy as np
import pytest
from scipy import ndimage

from kerasimb import data


def _images(n=3, size=9, channels=2):
    return np.random.default_rng(0).random((n, size, size, channels)).astype("float32")


def test_identity_when_everything_is_off():
    x = _images()
    out = data.augment_batch(x, [0, 0], flip=None, max_rotation=0.0, min_crop=1.0)
    np.testing.assert_allclose(out.numpy(), x, atol=1e-6)


def test_flips_are_exact_mirror_images():
    x = _images(n=64)
    out = data.augment_batch(x, [1, 2], flip="horizontal", max_rotation=0.0, min_crop=1.0).numpy()
    flipped = np.array([np.allclose(o, xi[:, ::-1]) for o, xi in zip(out, x)])
    same = np.array([np.allclose(o, xi, atol=1e-6) for o, xi in zip(out, x)])
    assert np.all(flipped ^ same) and 16 < flipped.sum() < 48  # each image one or the other
    out = data.augment_batch(x, [1, 2], flip="vertical", max_rotation=0.0, min_crop=1.0).numpy()
    assert all(np.allclose(o, xi[::-1]) or np.allclose(o, xi, atol=1e-6) for o, xi in zip(out, x))


def test_rotation_matches_scipy_on_the_interior():
    x = _images(n=32, size=21, channels=1)
    out = data.augment_batch(x, [5, 6], flip=None, max_rotation=30.0, min_crop=1.0).numpy()
    # Recover each image's angle by matching against scipy rotations, then compare the centre.
    for o, xi in zip(out[:4], x[:4]):
        errors = {}
        for angle in np.arange(-30, 30.5, 0.5):
            ref = ndimage.rotate(xi[..., 0], angle, reshape=False, order=1)
            errors[angle] = np.abs(ref[7:14, 7:14] - o[7:14, 7:14, 0]).max()
        assert min(errors.values()) < 0.03


def test_crop_zooms_in():
    # A horizontal ramp: a crop of side fraction s spans only s of the range.
    ramp = np.tile(np.linspace(0, 1, 33, dtype="float32")[None, :, None], (33, 1, 1))[None]
    x = np.repeat(ramp, 16, axis=0)
    out = data.augment_batch(x, [3, 4], flip=None, max_rotation=0.0, min_crop=0.5).numpy()
    spans = out[:, 16, -1, 0] - out[:, 16, 0, 0]
    assert np.all(spans <= 1.0 + 1e-5) and np.all(spans >= np.sqrt(0.5) - 1e-3)
    assert spans.min() < 0.95


def test_seed_and_errors():
    x = _images()
    np.testing.assert_array_equal(data.augment_batch(x, [7, 7]).numpy(), data.augment_batch(x, [7, 7]).numpy())
    with pytest.raises(ValueError, match="Received: flip='diagonal'"):
        data.augment_batch(x, [0, 0], flip="diagonal")
    with pytest.raises(ValueError, match="Received: min_crop=0.0"):
        data.augment_batch(x, [0, 0], min_crop=0.0)
    with pytest.raises(ValueError, match="Received: max_rotation=200.0"):
        data.augment_batch(x, [0, 0], max_rotation=200.0)
    with pytest.raises(ValueError, match="Expected a batch"):
        data.augment_batch(x[0], [0, 0])
    with pytest.raises(ValueError, match="argument `augment`.*'flip'.*Received: augment='yes'"):
        data.sampled_dataset(np.zeros((4, 4, 4, 1), "uint8"), [0, 1, 0, 1], augment="yes")
    with pytest.raises(TypeError, match="argument `augment`"):
        data.sampled_dataset(np.zeros((4, 4, 4, 1), "uint8"), [0, 1, 0, 1], augment=3)
