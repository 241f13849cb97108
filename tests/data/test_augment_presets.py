"""Augmentation presets ("none", "flip", "standard"), the flip fast path, the compiled warp against
TensorFlow's op, and `augment=` in `classification_dataset` and `Method.train`."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasimb import data, methods
from kerasimb.data import augment as augment_module
from kerasimb.data.image_dataset import ImageDataset

STANDARD_GEOMETRY = {"flip": "horizontal_and_vertical", "max_rotation": 15.0, "min_crop": 0.8}


def _uint8(n=16, size=10, channels=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels)).astype("uint8")


def _four_flips(image):
    return [image, image[:, ::-1], image[::-1], image[::-1, ::-1]]


def _function_ops(fn, *args):
    """Op types of the graph of `tf.function(fn)` and of every function it calls."""
    graph = tf.function(fn).get_concrete_function(*args).graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
    return ops


@pytest.fixture(params=[True, False], ids=["xla", "tf-ops"])
def xla(request, monkeypatch):
    """Runs a test with the compiled kernels and again with plain TensorFlow ops."""
    if request.param and not augment_module._use_xla():
        pytest.skip("XLA is not available here")
    monkeypatch.setitem(augment_module._XLA, "ok", request.param)
    return request.param


def test_presets_resolve():
    assert data.resolve_augment("none") is None
    assert data.resolve_augment(None) is None and data.resolve_augment(False) is None
    flip = data.resolve_augment("flip")
    assert flip.kwargs == {"flip": "horizontal_and_vertical", "max_rotation": 0.0, "min_crop": 1.0,
                           "fill_mode": "reflect", "brightness": 0.0, "contrast": 0.0,
                           "saturation": 0.0}
    assert flip.geometry == "flip" and not flip.colour
    standard = data.resolve_augment("standard")
    assert {k: standard.kwargs[k] for k in STANDARD_GEOMETRY} == STANDARD_GEOMETRY
    assert standard.geometry == "warp" and standard.colour
    assert all(0.0 < standard.kwargs[k] <= 0.2 for k in ("brightness", "contrast", "saturation"))
    # True keeps meaning augment_batch's defaults (no colour jitter)
    assert data.resolve_augment(True).kwargs == augment_module.BatchAugment().kwargs
    assert not data.resolve_augment(True).colour
    custom = data.resolve_augment({"flip": None, "max_rotation": 5.0})
    assert custom.flip is None and custom.max_rotation == 5.0 and custom.min_crop == 0.8

    def fn(images, seed):
        return images

    assert data.resolve_augment(fn) is fn


def test_unknown_preset_names_the_argument_and_the_choices():
    with pytest.raises(ValueError) as error:
        data.resolve_augment("flips")
    message = str(error.value)
    assert "argument `augment`" in message and "Received: augment='flips'" in message
    assert all(repr(name) in message for name in ("none", "flip", "standard"))
    with pytest.raises(ValueError, match="Received: augment='Standard'"):
        data.classification_dataset(_uint8(4), [0, 1, 0, 1], 2, augment="Standard")
    with pytest.raises(ValueError, match="Received: max_rotation=200.0"):
        data.resolve_augment({"max_rotation": 200.0})
    with pytest.raises(ValueError, match="Received: brightness=2.0"):
        data.resolve_augment({"brightness": 2.0})
    with pytest.raises(TypeError):
        data.resolve_augment({"rotation": 5.0})
    with pytest.raises(TypeError, match="argument `augment`"):
        data.resolve_augment(1.5)


def test_flip_preset_gives_one_of_the_four_flips(xla):
    x = _uint8(n=64)
    out = data.resolve_augment("flip")(x, tf.constant([3, 4])).numpy()
    expected = x.astype("float32") / 255.0
    kinds = []
    for o, image in zip(out, expected):
        matches = [k for k, f in enumerate(_four_flips(image)) if np.array_equal(o, f)]
        assert matches, "not a flip of its input"
        kinds.append(matches[0])
    assert len(set(kinds)) == 4  # all four occur among 64 images


def test_flips_never_call_the_affine_warp(xla):
    x = tf.zeros((4, 6, 6, 3))
    seed = tf.constant([1, 2], tf.int64)
    for flip in ("horizontal", "vertical", "horizontal_and_vertical"):
        ops = _function_ops(lambda images: data.augment_batch(
            images, seed, flip=flip, max_rotation=0.0, min_crop=1.0), x)
        assert not any("ImageProjectiveTransform" in op for op in ops)
    if not xla:  # the warp path does use the op (the check above is meaningful)
        ops = _function_ops(lambda images: data.augment_batch(images, seed), x)
        assert "ImageProjectiveTransformV3" in ops


@pytest.mark.parametrize("flip", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_fast_path_equals_the_warp(flip, xla):
    """The flip-only path and an affine warp with the same draws (rotation 0, crop 1: an exact
    pixel reversal) give the same images."""
    x = np.random.default_rng(1).random((32, 9, 7, 2)).astype("float32")
    seed = tf.constant([5, 6], tf.int64)
    fast = data.augment_batch(x, seed, flip=flip, max_rotation=0.0, min_crop=1.0).numpy()
    config = augment_module.BatchAugment(flip=flip, max_rotation=0.0, min_crop=1.0)
    draws = tf.random.stateless_uniform((32, 6), seed=seed)
    transforms = augment_module._transforms(config, draws, 9, 7)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=[9, 7], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT").numpy()
    np.testing.assert_allclose(fast, warped, atol=1e-6)
    assert not np.allclose(fast, x)  # something was flipped


@pytest.mark.parametrize("fill_mode", ["reflect", "nearest", "wrap", "constant"])
def test_compiled_warp_matches_tensorflow_op(fill_mode):
    if not augment_module._use_xla():
        pytest.skip("XLA is not available here")
    x = np.random.default_rng(2).random((6, 13, 11, 3)).astype("float32")
    seed = tf.constant([7, 8], tf.int64)
    config = augment_module.BatchAugment(max_rotation=40.0, min_crop=0.3, fill_mode=fill_mode)
    transforms = augment_module._transforms(
        config, tf.random.stateless_uniform((6, 6), seed=seed), 13, 11)
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=[13, 11], fill_value=0.0,
        interpolation="BILINEAR", fill_mode=fill_mode.upper()).numpy()
    out = data.augment_batch(x, seed, max_rotation=40.0, min_crop=0.3, fill_mode=fill_mode)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_uint8_is_scaled_like_the_pipelines(xla):
    x = _uint8(8)
    seed = tf.constant([1, 1], tf.int64)
    for augment in ("flip", "standard"):
        fn = data.resolve_augment(augment)
        np.testing.assert_allclose(fn(x, seed).numpy(),
                                   fn(x.astype("float32") / 255.0, seed).numpy(), atol=1e-6)


def test_standard_jitters_rgb_only_and_stays_in_unit_range(xla):
    seed = tf.constant([2, 3], tf.int64)
    rgb = _uint8(32, channels=3)
    standard = data.augment_batch(rgb, seed, **augment_module.PRESETS["standard"]).numpy()
    geometry = data.augment_batch(rgb, seed, **STANDARD_GEOMETRY).numpy()
    assert standard.min() >= 0.0 and standard.max() <= 1.0
    # the same geometric draws, different colours
    assert np.abs(standard - geometry).max() > 0.01
    # grey levels of the jittered images do not all keep the plain warp's
    assert not np.allclose(standard.mean(axis=(1, 2)), geometry.mean(axis=(1, 2)), atol=1e-3)
    grey = _uint8(32, channels=1)
    np.testing.assert_array_equal(
        data.augment_batch(grey, seed, **augment_module.PRESETS["standard"]).numpy(),
        data.augment_batch(grey, seed, **STANDARD_GEOMETRY).numpy())


def test_jitter_formula_on_a_flat_image(xla):
    # One flat colour: its grey level g is also the image's mean grey level, so the output is
    # g + d + k * u * (x - g): brightness shifts every channel by d, contrast and saturation
    # scale each channel's distance from the grey level.
    pixel = np.array([0.6, 0.4, 0.2], "float32")
    x = np.tile(pixel, (4, 5, 5, 1))
    seed = tf.constant([4, 4], tf.int64)
    out = data.augment_batch(x, seed, flip=None, max_rotation=0.0, min_crop=1.0, brightness=0.1,
                             contrast=0.1, saturation=0.1).numpy()
    colour_seed = tf.random.experimental.stateless_split(seed, 1)[0]
    u = 2.0 * tf.random.stateless_uniform((4, 3), seed=colour_seed).numpy() - 1.0
    shift, factor, sat = 0.1 * u[:, 0], 1.0 + 0.1 * u[:, 1], 1.0 + 0.1 * u[:, 2]
    grey = pixel @ np.array([0.299, 0.587, 0.114], "float32")
    expected = grey + shift[:, None] + (factor * sat)[:, None] * (pixel[None] - grey)
    np.testing.assert_allclose(out[:, 2, 2, :], np.clip(expected, 0, 1), atol=1e-5)


def test_fused_mix_equals_augment_then_mix(xla):
    """`prepare_batch` (scale, augment and mix in one pass) equals the step-by-step result."""
    x = _uint8(16, channels=3)
    seed = tf.constant([9, 9], tf.int64)
    w = tf.constant([0.25, 0.5, 0.75, 1.0] * 2)[:, None, None, None]
    for augment in (None, "flip", "standard"):
        fn = data.resolve_augment(augment)
        full = (fn(x, seed) if fn else tf.constant(x, tf.float32) / 255.0).numpy()
        a, b = full[:8], full[8:]
        np.testing.assert_allclose(augment_module.prepare_batch(x, fn, seed, w).numpy(),
                                   (1 - w.numpy()) * a + w.numpy() * b, atol=1e-6)
        np.testing.assert_allclose(augment_module.prepare_batch(x, fn, seed, w, swap=True).numpy(),
                                   (1 - w.numpy()) * b + w.numpy() * a, atol=1e-6)


def _png_files(folder, x):
    paths = []
    for i, image in enumerate(x):
        path = folder / f"{i:03d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return data.ImageFiles(paths)


def test_classification_dataset_augment_is_seeded_for_arrays_and_files(tmp_path):
    x = _uint8(20, size=8)
    y = np.arange(20) % 2

    def batches(images, augment, seed, shuffle=True, n=3):
        ds = data.classification_dataset(images, y, 2, batch_size=8, shuffle=shuffle, seed=seed,
                                         augment=augment)
        return [b[0].numpy() for b in ds.take(n)]

    a, b = batches(x, "standard", 3), batches(x, "standard", 3)
    for first, second in zip(a, b):
        np.testing.assert_array_equal(first, second)
    c = batches(x, "standard", 4)
    assert not all(np.array_equal(p, q) for p, q in zip(a, c))
    plain = batches(x, None, 3)
    assert not all(np.allclose(p, q) for p, q in zip(a, plain))
    # file-backed images: the same batches as the decoded array
    files = _png_files(tmp_path, x)
    for first, second in zip(batches(files, "standard", 3), a):
        np.testing.assert_allclose(first, second, atol=1e-6)
    # without shuffling, the flips of every batch are flips of the in-order images, and each
    # pass over the dataset (epoch) draws new flips, reproducibly from the seed
    ds = data.classification_dataset(x, y, 2, batch_size=20, shuffle=False, seed=5, augment="flip")
    epochs = [next(iter(ds))[0].numpy() for _ in range(3)]
    for epoch in epochs:
        for o, image in zip(epoch, x.astype("float32") / 255.0):
            assert any(np.array_equal(o, f) for f in _four_flips(image))
    assert not np.array_equal(epochs[0], epochs[1])
    again = data.classification_dataset(x, y, 2, batch_size=20, shuffle=False, seed=5,
                                        augment="flip")
    np.testing.assert_array_equal([next(iter(again))[0].numpy() for _ in range(3)], epochs)


def test_mixing_and_sampling_take_presets():
    x = _uint8(24, size=8)
    y = np.array([0] * 18 + [1] * 6)
    for make in (
        lambda a: data.sampled_dataset(x, y, 0.0, 8, seed=1, augment=a),
        lambda a: data.balanced_mixup_dataset(x, y, 0.2, 8, seed=1, augment=a),
        lambda a: data.mixup_dataset(x, y, batch_size=8, seed=1, augment=a),
        lambda a: data.cutmix_dataset(x, y, batch_size=8, seed=1, augment=a),
        lambda a: data.remix_dataset(x, y, batch_size=8, seed=1, augment=a),
    ):
        plain = next(iter(make(None)))[0].numpy()
        flipped = next(iter(make("flip")))[0].numpy()
        standard = next(iter(make("standard")))[0].numpy()
        np.testing.assert_array_equal(next(iter(make("standard")))[0].numpy(), standard)
        assert flipped.shape == plain.shape == standard.shape == (8, 8, 8, 3)
        assert not np.allclose(flipped, plain) and not np.allclose(standard, plain)
        assert standard.min() >= 0.0 and standard.max() <= 1.0


def test_sampled_flip_batches_are_flips_of_the_plain_batches():
    x = _uint8(24, size=8)
    y = np.array([0] * 18 + [1] * 6)
    plain = next(iter(data.sampled_dataset(x, y, 0.0, 16, seed=2)))[0].numpy()
    flipped = next(iter(data.sampled_dataset(x, y, 0.0, 16, seed=2, augment="flip")))[0].numpy()
    for o, image in zip(flipped, plain):
        assert any(np.array_equal(o, f) for f in _four_flips(image))


def _tiny_dataset(size=8):
    rng = np.random.default_rng(0)

    def split(per_class):
        labels = np.repeat(np.arange(2), per_class)
        images = rng.integers(0, 256, (len(labels), size, size, 3)).astype(np.uint8)
        return images, labels

    return ImageDataset(split([8, 4]), split([3, 3]), split([3, 3]), ["a", "b"], name="tiny")


@pytest.mark.parametrize("augment", ["flip", "standard"])
def test_ce_method_trains_with_a_preset(augment):
    import keras

    dataset = _tiny_dataset()

    def model_fn(input_shape, num_classes):
        return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(num_classes)])

    model, history = methods.get("ce").train(dataset, model_fn, epochs=1, batch_size=4, seed=0,
                                             augment=augment)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    ds, steps = methods.get("ce").train_dataset(dataset, 4, 0, augment=augment)
    images, labels = next(iter(ds))
    assert tuple(images.shape) == (4, 8, 8, 3) and steps == 3
