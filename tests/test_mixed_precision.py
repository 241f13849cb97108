"""Every model, loss, metric, pipeline and the perturbation under `mixed_float16` (loss scaling on)
and `mixed_bfloat16`: outputs, losses and metrics stay float32, a few training steps give finite
losses and weights, and the custom `train_step`s scale the loss for float16.

Runs on CPU. TensorFlow has CPU float16 kernels for every op used here (checked on TF 2.21); a
test whose op has none is skipped with the missing kernel named (`_skip_without_kernel`). The
fast subset uses tiny models and 1-2 steps; MobileNetV2 / ResNet-18 and the full loss matrix are
`slow`.
"""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasimb import data, inference, layers, losses, metrics, models
from kerasimb.utils import runtime

POLICIES = ["mixed_bfloat16", "mixed_float16"]
COUNTS = [8, 5, 3]
NUM_CLASSES = 3


@contextlib.contextmanager
def _skip_without_kernel():
    """Skips the test where TensorFlow has no CPU kernel for a float16/bfloat16 op."""
    try:
        yield
    except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as error:
        if "kernel" in str(error).lower():
            pytest.skip(f"no CPU kernel for this dtype: {str(error).splitlines()[0][:200]}")
        raise


def _data(size=16, n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3)).astype("float32")
    y = np.array(([0] * 8 + [1] * 5 + [2] * 3) * (n // 16 + 1))[:n]
    return x, y, np.eye(NUM_CLASSES, dtype="float32")[y]


def _finite_weights(model):
    return all(np.all(np.isfinite(np.asarray(keras.ops.cast(w, "float32"))))
               for w in model.weights if "float" in str(w.dtype))


def _check_trained(model, history, policy):
    assert history.history, "no logs"
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), (name, values)
    assert _finite_weights(model)
    # Keras wraps the optimizer in a LossScaleOptimizer for float16 (loss scaling on).
    is_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")
    for m in model.metrics:
        result = m.result()
        for value in (result.values() if isinstance(result, dict) else [result]):
            assert keras.ops.convert_to_tensor(value).dtype == "float32", m.name


def _small_cnn(size):
    return models.SmallCNN((size, size, 3), NUM_CLASSES, width=4, depth=2, dropout=0.0)


def _quadsnet(size):
    return models.QuadSNet((size, size, 3), NUM_CLASSES, filters=(4, 4),
                           classifier_units=(8,), dropout=0.0, block_dropout=0.0)


MODELS = {
    "small_cnn": (_small_cnn, 16),
    "quadsnet": (_quadsnet, 16),
    "mobilenetv2": (lambda s: models.build_classifier("mobilenetv2", (s, s, 3), NUM_CLASSES), 32),
    "resnet18": (lambda s: models.build_classifier("resnet18", (s, s, 3), NUM_CLASSES), 32),
}


def _cases(names, fast, policies=POLICIES):
    """`(name, policy)` parameters, `slow` except the pairs in `fast` (the default run)."""
    return [pytest.param(n, p, marks=() if (n, p) in fast else pytest.mark.slow)
            for n in names for p in policies]


F16, BF16 = "mixed_float16", "mixed_bfloat16"


@pytest.mark.parametrize("name, policy", _cases(
    MODELS, {("small_cnn", F16), ("small_cnn", BF16)}))
def test_model_trains_with_float32_outputs(name, policy):
    build, size = MODELS[name]
    x, _, y = _data(size)
    with _skip_without_kernel(), runtime.precision_policy(policy):
        keras.utils.set_random_seed(0)
        model = build(size)
        assert model.compute_dtype == policy.removeprefix("mixed_")
        model.compile(keras.optimizers.SGD(0.01),
                      keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=[metrics.MacroF1(NUM_CLASSES), metrics.BalancedAccuracy(NUM_CLASSES)])
        history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert model(x[:2]).dtype == "float32"
        assert model.predict(x[:4], verbose=0).dtype == np.float32
    _check_trained(model, history, policy)


def _two_stage(metric_loss, size=16):
    backbone = models.feature_extractor(_small_cnn(size))
    return models.TwoStageClassifier(backbone, NUM_CLASSES, metric_loss=metric_loss, dropout=0.0,
                                     projection_hidden_dim=8, projection_dim=4)


def _aduni(queue_size=0, size=16):
    encoder = models.feature_extractor(_small_cnn(size))
    return models.AdUni(encoder, NUM_CLASSES, class_counts=COUNTS, projection_dim=4,
                        queue_size=queue_size)


@pytest.mark.parametrize("metric_loss, policy", _cases(
    [None, "center", "triplet", "supcon"], {("supcon", F16)}))
def test_two_stage_both_stages(metric_loss, policy):
    x, y, y_hot = _data()
    with _skip_without_kernel(), runtime.precision_policy(policy):
        keras.utils.set_random_seed(0)
        model = _two_stage(metric_loss)
        model.compile(keras.optimizers.SGD(0.01),
                      keras.losses.CategoricalCrossentropy(from_logits=True),
                      metrics=[metrics.MacroF1(NUM_CLASSES)])
        history = model.fit(x, y_hot, batch_size=8, epochs=1, verbose=0)
        _check_trained(model, history, policy)
        stage2 = model.retrain_classifier(x, y, epochs=1, batch_size=8)
        assert np.all(np.isfinite(stage2.history["loss"]))
        assert model.predict(x[:4], verbose=0).dtype == np.float32
        assert model.extract_features(x[:4]).dtype == np.float32
    assert _finite_weights(model)


@pytest.mark.parametrize("queue_size, policy", _cases([0, 8], {(8, F16)}))
def test_aduni_trains(queue_size, policy):
    x, y, _ = _data()
    with _skip_without_kernel(), runtime.precision_policy(policy):
        keras.utils.set_random_seed(0)
        model = _aduni(queue_size)
        model.compile(keras.optimizers.SGD(0.01), metrics=[metrics.MacroF1(NUM_CLASSES)])
        ds = data.two_view_dataset(x, y, 8, seed=0)
        history = model.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)
        assert model.predict(x[:4], verbose=0).dtype == np.float32
    _check_trained(model, history, policy)


def _one_step_update(build, batch, policy):
    """Trainable weights after one SGD step minus before, for a model built under `policy`."""
    with runtime.precision_policy(policy):
        keras.utils.set_random_seed(0)
        model = build()
        model.compile(keras.optimizers.SGD(0.1),
                      keras.losses.CategoricalCrossentropy(from_logits=True))
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.train_on_batch(*batch)
    return [keras.ops.convert_to_numpy(w) - b for w, b in zip(model.trainable_weights, before)]


@pytest.mark.parametrize("name", [pytest.param("two_stage_supcon", marks=pytest.mark.slow),
                                  pytest.param("two_stage_center_gradient",
                                               marks=pytest.mark.slow), "aduni"])
def test_custom_train_step_scales_the_loss(name):
    """The float16 step equals the float32 step up to rounding: the custom `train_step` scales the
    loss by the LossScaleOptimizer's factor (2^15 at first), which then unscales the gradients.
    Without `optimizer.scale_loss` the update would be 2^15 times too small."""
    x, _, y = _data()
    if name == "aduni":
        rng = np.random.default_rng(1)
        second = np.clip(x + rng.normal(0.0, 0.05, x.shape), 0, 1).astype("float32")
        batch = ([x, second], y)
        build = _aduni
    elif name == "two_stage_supcon":
        batch, build = (x, y), lambda: _two_stage("supcon")
    else:
        batch = (x, y)

        def build():
            backbone = models.feature_extractor(_small_cnn(16))
            return models.TwoStageClassifier(backbone, NUM_CLASSES, metric_loss="center",
                                             center_update="gradient", dropout=0.0)
    with _skip_without_kernel():
        reference = _one_step_update(build, batch, "float32")
        half = _one_step_update(build, batch, "mixed_float16")
    ref = np.concatenate([d.ravel() for d in reference])
    got = np.concatenate([d.ravel() for d in half])
    assert np.linalg.norm(ref) > 0
    # Unscaled, the ratio would be about 2^-15; float16 rounding moves it by a few percent
    # (more with SupCon's temperature 0.05).
    assert 0.8 < np.linalg.norm(got) / np.linalg.norm(ref) < 1.25
    assert np.dot(got, ref) / (np.linalg.norm(got) * np.linalg.norm(ref)) > 0.95


@pytest.mark.parametrize("policy", POLICIES)
def test_layers_outputs(policy):
    inputs = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    with runtime.precision_policy(policy):
        cosine = layers.CosineClassifier(NUM_CLASSES, scale=30.0)
        adjust = layers.LogitAdjustment(COUNTS)
        head = layers.ProjectionHead(8, 4)
        scores = cosine(inputs)
        adjusted = adjust(scores)
        projected = head(inputs * 1e3)  # large features: normalised in float32
    assert scores.dtype == policy.removeprefix("mixed_")  # its compute dtype
    assert adjusted.dtype == "float32" and projected.dtype == "float32"
    np.testing.assert_allclose(np.linalg.norm(np.asarray(projected), axis=1), 1.0, rtol=1e-5)
    for t in (scores, adjusted, projected):
        assert np.all(np.isfinite(np.asarray(keras.ops.cast(t, "float32"))))


# --- losses ----------------------------------------------------------------------------------
# tests/losses/test_loss_stability.py covers focal, class-balanced, LDAM and logit-adjusted at
# extreme float16 logits; here: every name of `losses.get` inside a float16 / bfloat16 model
# (slow except the three the issue singles out), and the margin and metric (contrastive,
# center, triplet) losses at extreme float16 / bfloat16 inputs.

LOSS_NAMES = {
    "focal": {}, "class_balanced": {"class_counts": COUNTS}, "cb_focal": {"class_counts": COUNTS},
    "ldam": {"class_counts": COUNTS}, "logit_adjusted": {"class_counts": COUNTS},
    "balanced_softmax": {"class_counts": COUNTS}, "margin": {},
    "margin_weighted": {"class_counts": COUNTS},
}
FAST_LOSSES = {"ldam"}


@pytest.mark.parametrize("name, policy", _cases(LOSS_NAMES, {(n, F16) for n in FAST_LOSSES}))
def test_classification_loss_in_mixed_model(name, policy):
    x, _, y = _data()
    kwargs = dict(LOSS_NAMES[name])
    lookup = "margin" if name == "margin_weighted" else name
    with _skip_without_kernel(), runtime.precision_policy(policy):
        keras.utils.set_random_seed(0)
        model = _small_cnn(16)
        model.compile(keras.optimizers.SGD(0.01), losses.get(lookup, **kwargs),
                      metrics=[metrics.MatthewsCorrelation(NUM_CLASSES)])
        history = model.fit(x * 50.0, y, batch_size=8, epochs=1, verbose=0)  # large logits
    _check_trained(model, history, policy)


# float16's largest magnitude is 65504; bfloat16 holds float32's range, but squared distances of
# 1e30 overflow float32 itself, so bfloat16 goes to 1e15.
EXTREME = {"float16": 6.0e4, "bfloat16": 1.0e15}


def _extreme_features(big, dtype, zero_row=True):
    rows = [[big, -big, 0.0, 1.0], [-big, big, -big, 0.0], [big, big, -big, 2.0],
            [0.0, 0.0, 0.0, 0.0], [big, 0.0, -big, big], [1e-3, -1e-3, 0.0, 0.0]]
    if not zero_row:
        rows[3] = [1e-2, 0.0, 0.0, -1e-2]
    return tf.Variable(tf.cast(np.array(rows, np.float32), dtype))


def _metric_loss_values(features, labels, normalising=True):
    """Margin, center and triplet losses; with `normalising`, the L2-normalising ones too."""
    centers = tf.zeros((NUM_CLASSES, features.shape[-1]), features.dtype)
    logits = features[:, :NUM_CLASSES]
    values = {
        "margin_sigmoid": losses.MarginLoss(class_counts=COUNTS)(labels, logits),
        "margin_softmax": losses.MarginLoss(score="softmax")(labels, logits),
        "center": losses.center_loss(labels, features, centers),
        "triplet": losses.triplet_loss(labels, features),
        "triplet_squared_all": losses.triplet_loss(labels, features, mining="batch_all",
                                                   distance="squared"),
    }
    if normalising:
        batch = features.shape[0] // 2
        two_views = tf.stack([features[:batch], features[batch:]], axis=1)
        values["supcon"] = losses.supervised_contrastive_loss(labels, features)
        values["supcon_two_views"] = losses.SupConLoss()(labels[:batch], two_views)
        values["unified"] = losses.unified_contrastive_loss(labels[:batch], two_views, logits,
                                                            COUNTS, alpha=1.0)
    return values


@pytest.mark.parametrize("dtype", sorted(EXTREME))
@pytest.mark.parametrize("zero_row", [True, False])
def test_margin_and_metric_losses_finite_at_extreme_inputs(dtype, zero_row):
    """Finite value and gradient at extreme low-precision inputs.

    An all-zero feature row is left out of the L2-normalising losses (SupCon, unified): x / max(
    |x|, 1e-12) has gradient 1e12 at x = 0 (as PyTorch's `F.normalize` in the authors' code),
    which is finite in float32 but not representable in float16. The models feed these losses
    a float32 `ProjectionHead` output, never a float16 tensor.
    """
    labels = np.array([0, 1, 2, 2, 0, 1])
    features = _extreme_features(EXTREME[dtype], dtype, zero_row)
    with tf.GradientTape(persistent=True) as tape:
        values = _metric_loss_values(features, labels, normalising=not zero_row)
    for name, value in values.items():
        assert value.dtype == tf.float32, name
        assert np.isfinite(value.numpy()), (name, dtype)
        grad = tape.gradient(value, features)
        assert np.all(np.isfinite(np.asarray(tf.cast(grad, tf.float32)))), (name, dtype)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_metric_losses_match_float32_at_ordinary_inputs(dtype):
    labels = np.array([0, 1, 2, 2, 0, 1])
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    rounded = tf.Variable(tf.cast(x, dtype))
    reference = _metric_loss_values(tf.Variable(tf.cast(rounded, "float32")), labels)
    got = _metric_loss_values(rounded, labels)
    for name in reference:
        # Same (rounded) inputs, computed in float32 either way.
        np.testing.assert_allclose(got[name].numpy(), reference[name].numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


# --- metrics ---------------------------------------------------------------------------------

METRICS = {
    "confusion_matrix": lambda: metrics.ConfusionMatrixMetric(NUM_CLASSES),
    "balanced_accuracy": lambda: metrics.BalancedAccuracy(NUM_CLASSES),
    "macro_f1": lambda: metrics.MacroF1(NUM_CLASSES),
    "matthews": lambda: metrics.MatthewsCorrelation(NUM_CLASSES),
    "kappa": lambda: metrics.QuadraticKappa(NUM_CLASSES),
    "smallest_recall": lambda: metrics.SmallestClassRecall(NUM_CLASSES, class_counts=COUNTS),
}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("name", sorted(METRICS))
def test_streaming_metric_with_low_precision_scores(name, policy):
    rng = np.random.default_rng(0)
    y = rng.integers(0, NUM_CLASSES, 40)
    scores = rng.normal(size=(40, NUM_CLASSES)).astype("float32")
    scores[np.arange(40), rng.integers(0, NUM_CLASSES, 40)] += 3.0  # clear argmax in any dtype
    reference = METRICS[name]()
    reference.update_state(y, scores)
    with runtime.precision_policy(policy):
        metric = METRICS[name]()
        metric.update_state(y, tf.cast(scores, policy.removeprefix("mixed_")))
    got, expected = metric.result(), reference.result()
    assert keras.ops.convert_to_tensor(got).dtype == "float32"
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


# --- pipelines -------------------------------------------------------------------------------

PIPELINES = {
    "classification": lambda x, y: data.classification_dataset(x, y, NUM_CLASSES, batch_size=8,
                                                               seed=0),
    "sampled": lambda x, y: data.sampled_dataset(x, y, q=0.0, batch_size=8, seed=0),
    "balanced_mixup": lambda x, y: data.balanced_mixup_dataset(x, y, batch_size=8, seed=0),
    "mixup": lambda x, y: data.mixup_dataset(x, y, batch_size=8, seed=0),
    "cutmix": lambda x, y: data.cutmix_dataset(x, y, batch_size=8, seed=0),
    "remix": lambda x, y: data.remix_dataset(x, y, batch_size=8, seed=0),
    "two_view": lambda x, y: data.two_view_dataset(x, y, 8, seed=0),
}


@pytest.mark.parametrize("name, policy", _cases(PIPELINES, {("balanced_mixup", F16),
                                                           ("two_view", BF16)}))
def test_pipelines_yield_float32_under_mixed_policy(name, policy):
    """The policy changes the model, never the data: images and labels stay float32."""
    x, y, _ = _data()
    uint8 = (x * 255).astype("uint8")
    with runtime.precision_policy(policy):
        for make in [PIPELINES[name]]:
            images, labels = next(iter(make(uint8, y)))[:2]
            for t in (images if isinstance(images, tuple) else (images,)):
                assert t.dtype == tf.float32, name
                assert 0.0 <= float(tf.reduce_min(t)) and float(tf.reduce_max(t)) <= 1.0, name
            assert labels.dtype == tf.float32, name


# --- perturbation ----------------------------------------------------------------------------


def _trained_pair(policy, size=16):
    """A briefly trained float32 SmallCNN and a `policy` copy with the same weights."""
    x, _, y = _data(size, n=32)
    keras.utils.set_random_seed(0)
    reference = models.SmallCNN((size, size, 3), NUM_CLASSES, width=8, depth=2, dropout=0.0)
    reference.compile(keras.optimizers.Adam(1e-2),
                      keras.losses.CategoricalCrossentropy(from_logits=True))
    reference.fit(x, y, batch_size=16, epochs=2, verbose=0)
    with runtime.precision_policy(policy):
        model = models.SmallCNN((size, size, 3), NUM_CLASSES, width=8, depth=2, dropout=0.0)
    model.set_weights(reference.get_weights())
    return reference, model, x


@pytest.mark.parametrize("policy", [F16, pytest.param(BF16, marks=pytest.mark.slow)])
def test_perturbation_under_mixed_policy(policy):
    with _skip_without_kernel():
        reference, model, x = _trained_pair(policy)
        expected = inference.PerturbedPredictor(reference, COUNTS).perturb(x)
        predictor = inference.PerturbedPredictor(model, COUNTS)
        assert predictor.float16 == (policy == "mixed_float16")
        moved = predictor.perturb(x)
        out = predictor.predict(x)
        direct = inference.perturb_inputs(model, x, COUNTS)
    assert moved.dtype == np.float32 and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(direct, moved)
    step = np.round((x - moved) / 1e-3)  # the sign of each pixel's gradient
    expected_step = np.round((x - expected) / 1e-3)
    assert np.mean(step == 0) < 0.01  # every pixel moves (float32: none stays)
    assert np.mean(step == expected_step) > 0.9  # same direction as float32 but for rounding
    if policy == F16:
        # The T · 32 loss scale: no more zero (underflowed) gradients than without it, and the
        # same signs where the unscaled gradient has one (up to float16 rounding).
        xx, temperature = tf.constant(x), tf.constant(1000.0)
        unscaled = np.sign(predictor._input_gradient(xx, temperature, None)[0].numpy())
        scaled = predictor._gradient_sign(xx, temperature)[0].numpy()
        assert np.mean(scaled == 0) <= np.mean(unscaled == 0)
        nonzero = unscaled != 0
        assert np.mean(unscaled[nonzero] == scaled[nonzero]) > 0.98
