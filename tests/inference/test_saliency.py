"""Saliency: Grad-CAM and the input gradient, against numpy re-derivations, on a toy set whose
class signal sits in a known region, and on every kind of model the library builds."""

import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerasimb import inference, models

RNG = np.random.default_rng(0)
SIZE = 32
REGION = (slice(0, SIZE // 2), slice(0, SIZE // 2))  # top-left quadrant: class 1's square
OPPOSITE = (slice(SIZE // 2, SIZE), slice(SIZE // 2, SIZE))


# --- numpy re-derivations ------------------------------------------------------------------


def conv2d(x, kernel, bias, stride=1, padding="same"):
    """`(B, H, W, C)` * `(k, k, C, F)` cross-correlation, as Keras' Conv2D (odd k)."""
    k = kernel.shape[0]
    if padding == "same":
        x = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    h = (x.shape[1] - k) // stride + 1
    w = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], h, w, kernel.shape[-1]))
    for di in range(k):
        for dj in range(k):
            patch = x[:, di:di + stride * (h - 1) + 1:stride, dj:dj + stride * (w - 1) + 1:stride]
            out += patch @ kernel[di, dj]
    return out + bias


def resize_bilinear(maps, height, width):
    """Bilinear resizing of `(B, h, w)` maps with half-pixel centres (edges clamped)."""

    def axis(size, new):
        source = (np.arange(new) + 0.5) * size / new - 0.5
        low = np.floor(source)
        frac = source - low
        i0 = np.clip(low, 0, size - 1).astype(int)
        i1 = np.clip(low + 1, 0, size - 1).astype(int)
        return i0, i1, frac

    r0, r1, fr = axis(maps.shape[1], height)
    c0, c1, fc = axis(maps.shape[2], width)
    rows = maps[:, r0] * (1 - fr)[None, :, None] + maps[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc)[None, None, :] + rows[:, :, c1] * fc[None, None, :]


def min_max(maps):
    """Per-map scaling to [0, 1]; a flat map gives zeros."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


def cam_model(stride=1, padding="same", size=6, channels=2, filters=3, classes=3, seed=0):
    """conv -> global average pooling -> Dense: Grad-CAM is the class activation map."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((size, size, channels)),
        keras.layers.Conv2D(filters, 3, strides=stride, padding=padding, name="conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(classes, name="logits"),
    ])


def numpy_cam(model, x, classes=None, stride=1, padding="same"):
    """ReLU(Σ_k α_k A_k) with α_k = w_kc / (h·w) (GAP + Dense), resized and min-max scaled."""
    kernel, bias, dense, dense_bias = model.get_weights()
    feature_maps = conv2d(x.astype(np.float64), kernel, bias, stride, padding)
    logits = feature_maps.mean(axis=(1, 2)) @ dense + dense_bias
    if classes is None:
        classes = logits.argmax(axis=1)
    h, w = feature_maps.shape[1:3]
    alpha = dense[:, classes].T / (h * w)  # (B, K)
    cam = np.maximum(np.einsum("bhwk,bk->bhw", feature_maps, alpha), 0)
    return min_max(resize_bilinear(cam, *x.shape[1:3]))


@pytest.mark.parametrize("class_index", [None, 0, 2])
def test_grad_cam_is_the_class_activation_map_of_a_gap_dense_model(class_index):
    model = cam_model()
    x = RNG.normal(size=(5, 6, 6, 2)).astype("float32")  # maps of both signs
    expected = numpy_cam(model, x, None if class_index is None else np.full(5, class_index))
    assert (expected.max(axis=(1, 2)) == 1.0).sum() >= 4  # not flat maps
    np.testing.assert_allclose(inference.grad_cam(model, x, class_index=class_index), expected,
                               atol=1e-5)
    # the layer named explicitly is the one found
    np.testing.assert_allclose(inference.grad_cam(model, x, class_index, layer_name="conv"),
                               expected, atol=1e-5)


def test_grad_cam_of_a_smaller_map_is_resized_bilinearly():
    model = cam_model(stride=2, padding="valid", size=9)  # 4x4 maps for 9x9 images
    x = RNG.normal(size=(4, 9, 9, 2)).astype("float32")
    classes = np.array([0, 1, 2, 1])
    expected = numpy_cam(model, x, classes, stride=2, padding="valid")
    assert expected.shape == (4, 9, 9) and (expected.max(axis=(1, 2)) == 1.0).all()
    np.testing.assert_allclose(inference.grad_cam(model, x, classes), expected, atol=1e-5)


def test_input_gradient_is_the_largest_absolute_weight_over_channels():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3, 4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    x = RNG.random((2, 3, 4, 2)).astype("float32")
    weights = model.get_weights()[0]  # (24, 3): the logit is linear in the pixels
    for c in range(3):
        expected = min_max(np.abs(weights[:, c]).reshape(1, 3, 4, 2).max(axis=-1))
        got = inference.input_gradient(model, x, class_index=c)
        np.testing.assert_allclose(got, np.repeat(expected, 2, axis=0), atol=1e-6)


def test_a_flat_map_is_zeros_not_nan():
    model = cam_model()
    model.get_layer("conv").set_weights([np.zeros((3, 3, 2, 3)), np.zeros(3)])  # A = 0
    maps = inference.grad_cam(model, RNG.random((3, 6, 6, 2)))
    assert np.isfinite(maps).all() and not maps.any()
    gradients = inference.input_gradient(model, RNG.random((3, 6, 6, 2)))
    assert np.isfinite(gradients).all() and not gradients.any()  # ∂y/∂x = 0 everywhere


# --- the toy set: the class signal sits in a known region ------------------------------------


def peak_in(heat_map, region):
    """Whether the arg-max of a `(H, W)` map lies in `region` (a pair of slices)."""
    row, col = np.unravel_index(np.argmax(heat_map), heat_map.shape)
    rows, cols = region
    return rows.start <= row < rows.stop and cols.start <= col < cols.stop


def toy_set(n=160, seed=0):
    """Grey noise; class 1 adds a bright 6x6 square somewhere in the top-left quadrant."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 0.1, (n, SIZE, SIZE, 1)).clip(0, 1).astype("float32")
    y = np.arange(n) % 2
    for i in np.flatnonzero(y == 1):
        row, col = rng.integers(2, SIZE // 2 - 6, 2)
        x[i, row:row + 6, col:col + 6] = 0.9
    return x, y


@pytest.fixture(scope="module")
def toy():
    keras.utils.set_random_seed(0)
    x, y = toy_set()
    model = models.SmallCNN((SIZE, SIZE, 1), 2, width=8, depth=2, dropout=0.0)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    accuracy = (model.predict(x, verbose=0).argmax(axis=1) == y).mean()
    assert accuracy > 0.9, accuracy  # the model found the square
    return model, x[y == 1]


def test_peak_check_fails_for_a_map_peaking_elsewhere():
    heat_map = np.zeros((SIZE, SIZE))
    heat_map[24, 25] = 1.0
    assert peak_in(heat_map, OPPOSITE) and not peak_in(heat_map, REGION)


def test_toy_grad_cam_peaks_where_the_class_signal_is(toy):
    model, squares = toy
    mean = inference.grad_cam(model, squares, class_index=1).mean(axis=0)
    assert peak_in(mean, REGION), np.unravel_index(mean.argmax(), mean.shape)
    assert mean[REGION].sum() > 0.8 * mean.sum()  # most of the map's mass
    # a map pointing at the wrong place fails the same check
    assert not peak_in(mean[::-1, ::-1], REGION)
    # the map follows the signal: the squares moved to the bottom-right, so does the peak
    moved = inference.grad_cam(model, squares[:, ::-1, ::-1], class_index=1).mean(axis=0)
    assert peak_in(moved, OPPOSITE), np.unravel_index(moved.argmax(), moved.shape)


def test_toy_input_gradient_peaks_where_the_class_signal_is(toy):
    model, squares = toy
    mean = inference.input_gradient(model, squares, class_index=1).mean(axis=0)
    assert peak_in(mean, REGION), np.unravel_index(mean.argmax(), mean.shape)
    moved = inference.input_gradient(model, squares[:, ::-1, ::-1], class_index=1).mean(axis=0)
    assert peak_in(moved, OPPOSITE), np.unravel_index(moved.argmax(), moved.shape)


def test_predicted_class_is_the_default(toy):
    model, squares = toy
    x = np.concatenate([squares[:3], toy_set(6, seed=5)[0][::2]])  # class 1, then class 0
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    np.testing.assert_allclose(inference.grad_cam(model, x),
                               inference.grad_cam(model, x, class_index=predicted), atol=1e-6)
    np.testing.assert_allclose(inference.input_gradient(model, x),
                               inference.input_gradient(model, x, class_index=predicted),
                               atol=1e-6)
    assert not np.allclose(inference.grad_cam(model, x, class_index=0),
                           inference.grad_cam(model, x, class_index=1))


# --- every kind of model ---------------------------------------------------------------------


def _small_encoder(size):
    return models.feature_extractor(models.SmallCNN((size, size, 1), 3, width=4, depth=2))


MODELS = {
    # name: (builder, input shape, the layer Grad-CAM takes by default)
    "small_cnn": (lambda: models.SmallCNN((28, 28, 1), 3, width=4, depth=3),
                  (28, 28, 1), "block3_relu"),
    "mobilenetv2": (lambda: models.build_classifier("mobilenetv2", (64, 64, 1), 3),
                    (64, 64, 1), "mobilenetv2_1.00_64/out_relu"),
    # a Resizing wrapper around the backbone: two levels of nesting
    "mobilenetv2_resized": (
        lambda: models.build_classifier("mobilenetv2", (28, 28, 3), 2, input_size=64),
        (28, 28, 3), "mobilenetv2_resized_backbone/mobilenetv2_1.00_64/out_relu"),
    "resnet50": (lambda: models.build_classifier("resnet50", (64, 64, 3), 2),
                 (64, 64, 3), "resnet50/conv5_block3_out"),
    "resnet18": (lambda: models.ResNet18(include_top=True, input_shape=(32, 32, 1), classes=2),
                 (32, 32, 1), "conv5_block2_out"),
    "resnet18_classifier": (lambda: models.model_fn("resnet18")((16, 16, 3), 2),
                            (16, 16, 3), "resnet18/conv5_block2_out"),
    "two_stage": (lambda: models.TwoStageClassifier(_small_encoder(16), 3, metric_loss="center"),
                  (16, 16, 1), "small_cnn_features/block2_relu"),
    "aduni": (lambda: models.AdUni(_small_encoder(16), 3, class_counts=[5, 3, 1],
                                   projection_dim=4),
              (16, 16, 1), "small_cnn_features/block2_relu"),
}


SLOW_MODELS = ("resnet50",)  # about 6 s on a 2-core CPU


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_MODELS
                                  else n for n in sorted(MODELS)])
def test_every_model_kind_gives_maps_at_its_last_convolution(name):
    from kerasimb.inference.saliency import _default_targets, _path_name

    build, shape, layer = MODELS[name]
    keras.utils.set_random_seed(0)
    model = build()
    x = RNG.random((3, *shape)).astype("float32")
    assert [_path_name(path) for path in _default_targets(model)] == [layer]
    for maps in (inference.grad_cam(model, x), inference.input_gradient(model, x)):
        assert maps.shape == (3, *shape[:2]) and maps.dtype == np.float32
        assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    np.testing.assert_allclose(inference.grad_cam(model, x, layer_name=layer),
                               inference.grad_cam(model, x), atol=1e-6)


def test_quadsnet_map_is_the_mean_of_its_four_streams():
    keras.utils.set_random_seed(0)
    model = models.QuadSNet((28, 28, 1), 2, filters=(4, 4, 8, 8), classifier_units=(8,))
    x = RNG.random((4, 28, 28, 1)).astype("float32")
    streams = [inference.grad_cam(model, x, class_index=1, layer_name=f"{s}_block4")
               for s in ("cs1", "cs2", "ss1", "ss2")]
    merged = inference.grad_cam(model, x, class_index=1)
    np.testing.assert_allclose(merged, np.mean(streams, axis=0), atol=1e-6)
    assert merged.shape == (4, 28, 28) and 0.0 <= merged.min() and merged.max() <= 1.0
    assert not np.allclose(streams[0], streams[3])  # four different maps
    # a stream's map is taken at its last convolution (3x3 at 28 px), not the 1x1 pooled output
    block = model.get_layer("cs1_block4")
    probe = keras.Model(model.inputs, [model.get_layer("cs1_block3").output])
    conv = np.asarray(block.conv(probe(x)))
    assert conv.shape[1:3] == (3, 3) and tuple(block.output.shape[1:3]) == (1, 1)


def test_quadsnet_stream_map_from_its_convolution():
    # Grad-CAM of one stream, re-derived with its own tape on the convolution's output
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    model = models.QuadSNet((16, 16, 1), 2, filters=(2, 2, 4, 4), classifier_units=())
    x = RNG.random((2, 16, 16, 1)).astype("float32")
    block = model.get_layer("ss2_block4")
    with tf.GradientTape() as tape:
        inputs = tf.constant(x)
        outputs = {}
        for stream in ("cs1", "cs2", "ss1", "ss2"):
            h = inputs
            for b in range(1, 5):
                layer = model.get_layer(f"{stream}_block{b}")
                if layer is block:
                    conv = layer.conv(h)
                    tape.watch(conv)
                    h = layer.pool(layer.bn(conv, training=False))
                else:
                    h = layer(h, training=False)
            outputs[stream] = h
        total = tf.concat([outputs["cs1"], outputs["cs2"], outputs["ss1"], outputs["ss2"]], -1)
        logits = model.get_layer("logits")(tf.reduce_mean(total, axis=(1, 2)))
        score = tf.reduce_sum(logits[:, 0])
    np.testing.assert_allclose(logits, model(x, training=False), atol=1e-5)
    alpha = tf.reduce_mean(tape.gradient(score, conv), axis=(1, 2)).numpy()
    cam = np.maximum(np.einsum("bhwk,bk->bhw", conv.numpy(), alpha), 0)
    expected = min_max(resize_bilinear(cam, 16, 16))
    assert cam.shape == (2, 2, 2)  # 16 px: 8, 4, 2 after three blocks; no pooling yet
    np.testing.assert_allclose(
        inference.grad_cam(model, x, class_index=0, layer_name="ss2_block4"), expected,
        atol=1e-5)


def test_inference_model_uses_its_network():
    keras.utils.set_random_seed(0)
    network = models.SmallCNN((16, 16, 1), 2, width=4, depth=2)
    wrapped = inference.InferenceModel(network, (16, 16, 1), ["a", "b"], [30, 10],
                                       logit_scale=2.0, temperature=1.5)
    x = RNG.random((3, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(inference.grad_cam(wrapped, x), inference.grad_cam(network, x),
                               atol=1e-6)
    np.testing.assert_allclose(inference.input_gradient(wrapped, x, class_index=1),
                               inference.input_gradient(network, x, class_index=1), atol=1e-6)


@pytest.mark.parametrize("softmax", ["activation", "layer"])
def test_a_final_softmax_is_skipped(softmax):
    logits_model = cam_model()
    x = RNG.random((4, 6, 6, 2)).astype("float32")
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.GlobalAveragePooling2D()(logits_model.get_layer("conv")(inputs))
    dense = logits_model.get_layer("logits")
    if softmax == "activation":
        outputs = keras.layers.Dense(3, activation="softmax")(h)
        probabilities = keras.Model(inputs, outputs)
        probabilities.layers[-1].set_weights(dense.get_weights())
    else:
        probabilities = keras.Model(inputs, keras.layers.Softmax()(dense(h)))
    np.testing.assert_allclose(probabilities(x), keras.ops.softmax(logits_model(x)), atol=1e-6)
    for fn in (inference.grad_cam, inference.input_gradient):
        np.testing.assert_allclose(fn(probabilities, x, class_index=1),
                                   fn(logits_model, x, class_index=1), atol=1e-5)
    if softmax == "activation":
        assert probabilities.layers[-1].activation is keras.activations.softmax  # restored


def test_uint8_images_are_divided_by_255():
    model = cam_model(channels=1)
    pixels = RNG.integers(0, 256, (3, 6, 6, 1)).astype(np.uint8)
    for fn in (inference.grad_cam, inference.input_gradient):
        np.testing.assert_allclose(fn(model, pixels, class_index=0),
                                   fn(model, pixels / 255.0, class_index=0), atol=1e-6)


def test_batches_do_not_change_the_maps():
    model = cam_model()
    x = RNG.random((7, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(inference.grad_cam(model, x, batch_size=2),
                               inference.grad_cam(model, x, batch_size=32), atol=1e-6)
    np.testing.assert_allclose(inference.input_gradient(model, x, batch_size=3),
                               inference.input_gradient(model, x), atol=1e-6)


# --- errors ----------------------------------------------------------------------------------


def test_layer_name_errors():
    model = models.build_classifier("mobilenetv2", (32, 32, 1), 2)
    x = RNG.random((1, 32, 32, 1)).astype("float32")
    with pytest.raises(ValueError, match=r"argument `layer_name`.*/block_13_expand_relu'.*"
                                         r"Received: layer_name='nope'"):
        inference.grad_cam(model, x, layer_name="nope")
    with pytest.raises(ValueError, match=r"4-D output.*layer_name='logits'.*\(None, 2\)"):
        inference.grad_cam(model, x, layer_name="logits")
    with pytest.raises(ValueError, match=r"4-D output.*layer_name='Conv_1'"):  # 1x1 at 32 px
        inference.grad_cam(model, x, layer_name="Conv_1")
    with pytest.raises(TypeError, match="layer_name"):
        inference.grad_cam(model, x, layer_name=3)
    # a nested layer by its path
    np.testing.assert_allclose(
        inference.grad_cam(model, x, layer_name="mobilenetv2_1.00_32/block_12_add"),
        inference.grad_cam(model, x, layer_name="block_12_add"), atol=1e-6)


def test_class_index_errors():
    model = cam_model()  # 3 classes
    x = RNG.random((2, 6, 6, 2)).astype("float32")
    for fn in (inference.grad_cam, inference.input_gradient):
        with pytest.raises(ValueError, match=r"argument `class_index`.*\[0, 3\).*"
                                             r"Received: class_index=3"):
            fn(model, x, class_index=3)
        with pytest.raises(ValueError, match="class_index=-1"):
            fn(model, x, class_index=np.array([0, -1]))
        with pytest.raises(ValueError, match=r"class_index.*shape \(2,\).*\(3,\)"):
            fn(model, x, class_index=[0, 1, 2])
        with pytest.raises(TypeError, match="class_index"):
            fn(model, x, class_index=1.0)
        with pytest.raises(TypeError, match="class_index"):
            fn(model, x, class_index=True)


def test_image_and_model_errors():
    model = cam_model()
    with pytest.raises(ValueError, match=r"argument `images`.*\(N, 6, 6, 2\).*\(6, 6, 2\)"):
        inference.grad_cam(model, RNG.random((6, 6, 2)))
    with pytest.raises(ValueError, match=r"argument `images`.*\(2, 6, 6, 1\)"):
        inference.input_gradient(model, RNG.random((2, 6, 6, 1)))
    with pytest.raises(TypeError, match="argument `model`"):
        inference.grad_cam(lambda x: x, RNG.random((1, 6, 6, 2)))
    dense_only = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                                   keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no.*4-D|none"):
        inference.grad_cam(dense_only, RNG.random((1, 4, 4, 1)))
    assert inference.grad_cam(model, np.zeros((0, 6, 6, 2))).shape == (0, 6, 6)


# --- overlays --------------------------------------------------------------------------------


def test_overlay_blends_the_jet_colours():
    from matplotlib import colormaps

    image = RNG.integers(0, 256, (4, 5)).astype(np.uint8)
    heat = RNG.random((4, 5))
    got = inference.overlay(image, heat, alpha=0.25)
    expected = 0.75 * np.repeat(image[..., None] / 255.0, 3, -1) + 0.25 * colormaps["jet"](
        heat)[..., :3]
    assert got.dtype == np.uint8 and got.shape == (4, 5, 3)
    np.testing.assert_allclose(got, np.rint(255 * expected), atol=1)
    np.testing.assert_array_equal(inference.overlay(image[..., None], heat, alpha=0.0),
                                  np.repeat(image[..., None], 3, -1))
    rgb = RNG.random((4, 5, 3))
    np.testing.assert_allclose(inference.overlay(rgb, heat, alpha=0.0), np.rint(255 * rgb),
                               atol=1)
    cold, hot = inference.overlay(np.zeros((1, 2)), np.array([[0.0, 1.0]]), alpha=1.0)[0]
    assert cold[2] > cold[0] and hot[0] > hot[2]  # blue for 0, red for 1
    with pytest.raises(ValueError, match="heat_map"):
        inference.overlay(image, heat[:3])
    with pytest.raises(ValueError, match=r"heat_map.*\[0, 1\]"):
        inference.overlay(image, heat + 1.0)
    with pytest.raises(ValueError, match="alpha"):
        inference.overlay(image, heat, alpha=1.5)


def test_save_overlays_writes_one_png_per_image(tmp_path):
    images = RNG.integers(0, 256, (3, 6, 7, 1)).astype(np.uint8)
    maps = RNG.random((3, 6, 7))
    paths = inference.save_overlays(images, maps, ["a", "ward/b", "2"], tmp_path / "out")
    assert paths == [str(tmp_path / "out" / n) for n in ("a.png", "ward/b.png", "2.png")]
    for image, heat_map, path in zip(images, maps, paths):
        np.testing.assert_array_equal(np.asarray(Image.open(path)),
                                      inference.overlay(image, heat_map))
    assert sorted(os.listdir(tmp_path / "out")) == ["2.png", "a.png", "ward"]  # no temp files
    with pytest.raises(ValueError, match="names"):
        inference.save_overlays(images[:1], maps[:1], ["../x"], tmp_path / "out")
    with pytest.raises(ValueError, match="distinct"):
        inference.save_overlays(images[:2], maps[:2], ["a", "a"], tmp_path / "out")
    with pytest.raises(ValueError, match="one image, map and name"):
        inference.save_overlays(images, maps, ["a"], tmp_path / "out")


def test_a_model_whose_call_leaves_its_graph_is_refused():
    class Shifted(keras.Model):  # a functional graph, but `call` adds 1 to the logits
        def call(self, inputs, training=None):
            return super().call(inputs, training=training) + 1.0

    base = cam_model()
    model = Shifted(base.inputs, base.outputs)
    with pytest.raises(ValueError, match="forward pass can be followed"):
        inference.grad_cam(model, RNG.random((2, 6, 6, 2)))
