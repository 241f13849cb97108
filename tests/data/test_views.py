import numpy as np
import pytest

from kerasimb.data import SamplingWeights, two_view_dataset, view_augment


def toy(n=40):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (n, 8, 8, 1)).astype("uint8")
    y = np.repeat([0, 1, 2], [n - 12, 8, 4])
    return x, y


def test_views_differ_labels_match_and_seeded():
    x, y = toy()
    ds = two_view_dataset(x, y, 8, seed=3)
    (a1, a2), labels = next(iter(ds))
    (b1, b2), labels_b = next(iter(two_view_dataset(x, y, 8, seed=3)))
    np.testing.assert_allclose(a1, b1)
    np.testing.assert_allclose(a2, b2)
    np.testing.assert_allclose(labels, labels_b)
    assert not np.allclose(a1, a2)
    assert a1.dtype == "float32" and float(np.min(a1)) >= 0 and float(np.max(a1)) <= 1
    assert labels.shape == (8, 3) and np.all(labels.numpy().sum(1) == 1)


def test_no_augment_gives_the_images_and_epochs_cover_every_example():
    x, y = toy()
    ds = two_view_dataset(x, y, 16, augment=False, seed=0)
    seen = []
    for (v1, v2), labels in ds.take(3):  # 40 examples: 16 + 16 + 8 (one epoch)
        np.testing.assert_allclose(v1, v2)
        seen.append(labels.numpy().argmax(1))
    assert sorted(np.concatenate(seen).tolist()) == sorted(y.tolist())


def test_views_are_the_same_image_up_to_augmentation():
    # With a pure colour jitter of 0 and no geometry, both views equal the image.
    x, y = toy()
    no_op = {"brightness": 0.0, "contrast": 0.0, "flip": None, "max_rotation": 0.0,
             "min_crop": 1.0}
    (v1, v2), labels = next(iter(two_view_dataset(x, y, 40, augment=no_op, seed=0)))
    images = x.astype("float32") / 255.0
    # Each view row is one of the images, the same one in both views.
    for row1, row2 in zip(v1.numpy(), v2.numpy()):
        np.testing.assert_allclose(row1, row2, atol=1e-6)
        assert np.min(np.abs(images - row1).reshape(len(x), -1).max(1)) < 1e-5


def test_class_sampling():
    x, y = toy(200)
    ds = two_view_dataset(x, y, 600, seed=0, q=0.0, augment=False)
    (_, _), labels = next(iter(ds))
    np.testing.assert_allclose(labels.numpy().mean(0), [1 / 3] * 3, atol=0.06)
    weights = SamplingWeights(np.bincount(y).tolist(), q=1.0)
    (_, _), labels = next(iter(two_view_dataset(x, y, 600, seed=0, q=weights, augment=False)))
    np.testing.assert_allclose(labels.numpy().mean(0), np.bincount(y) / len(y), atol=0.06)


def test_view_augment_brightness_contrast():
    x = np.full((4, 6, 6, 1), 0.5, "float32")
    out = view_augment(x, [1, 2], brightness=0.0, contrast=0.5, flip=None, max_rotation=0.0,
                       min_crop=1.0)
    np.testing.assert_allclose(out, x, atol=1e-6)  # contrast of a constant image does nothing
    out = view_augment(x, [1, 2], brightness=0.3, contrast=0.0, flip=None, max_rotation=0.0,
                       min_crop=1.0).numpy()
    per_image = out.reshape(4, -1)
    assert np.allclose(per_image, per_image[:, :1], atol=1e-6)  # one shift per image
    assert np.all(np.abs(per_image[:, 0] - 0.5) <= 0.3 + 1e-6)


def test_errors():
    x, y = toy()
    with pytest.raises(ValueError, match="argument `batch_size`"):
        two_view_dataset(x, y, 0)
    with pytest.raises(ValueError, match="argument `contrast`"):
        two_view_dataset(x, y, 4, augment={"contrast": 2.0})
    with pytest.raises(ValueError, match="argument `augment`.*Received: augment='yes'"):
        two_view_dataset(x, y, 4, augment="yes")
    with pytest.raises(TypeError, match="argument `augment`"):
        two_view_dataset(x, y, 4, augment=3)
