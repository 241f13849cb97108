import keras
import numpy as np
import pytest

from kerasimb import callbacks, layers, losses, methods
from kerasimb.data import ImageDataset
from kerasimb.models import model_fn

NAMES = ["focal", "cb-softmax", "cb-focal", "ldam", "ldam-drw", "logit-adjusted", "balanced-softmax"]


def tiny_dataset(counts=(8, 4, 2), size=8, seed=0):
    rng = np.random.default_rng(seed)

    def split(per_class):
        y = np.repeat(np.arange(len(counts)), per_class)
        x = rng.integers(0, 60, (len(y), size, size, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, : size // 2, (c * size) // len(counts):, 0] += 150
        return x, y

    return ImageDataset(split(list(counts)), split([2] * len(counts)), split([3] * len(counts)),
                        [f"c{i}" for i in range(len(counts))], name="tiny")


DATA = tiny_dataset()
SMALL = model_fn("small_cnn", width=4, depth=2)


def tiny_model(input_shape, num_classes):
    """Flatten -> Dense(8) -> Dense logits: trains in a fraction of a second."""
    return keras.Sequential([
        keras.Input(input_shape), keras.layers.Flatten(), keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(num_classes, name="logits"),
    ])


def test_registered_with_defaults():
    assert set(NAMES) <= set(methods.names())
    assert methods.get("focal").params == {"gamma": 2.0}
    assert methods.get("cb-focal").params == {"beta": 0.9999, "gamma": 2.0}
    assert methods.get("ldam-drw").params == {"max_margin": 0.5, "scale": 30.0, "drw_start": 0.8, "beta": 0.9999}
    assert methods.get("logit-adjusted").params == {"tau": 1.0, "mode": "loss"}
    for name in NAMES:
        method = methods.get(name)
        assert method.description and method.reference


def test_losses_built_from_the_training_counts():
    loss = methods.get("cb-softmax", beta=0.9).loss(DATA)
    assert isinstance(loss, losses.ClassBalancedLoss) and loss.loss_type == "softmax"
    assert loss.class_counts == [8, 4, 2] and loss.beta == 0.9
    loss = methods.get("cb-focal", gamma=0.5).loss(DATA)
    assert loss.loss_type == "focal" and loss.gamma == 0.5
    assert methods.get("focal", gamma=1.0).loss(DATA).gamma == 1.0
    ldam = methods.get("ldam", max_margin=0.3, scale=10.0).loss(DATA)
    assert isinstance(ldam, losses.LDAMLoss) and (ldam.max_margin, ldam.scale) == (0.3, 10.0)
    assert methods.get("logit-adjusted", tau=2.0).loss(DATA).tau == 2.0
    assert isinstance(methods.get("logit-adjusted", mode="posthoc").loss(DATA), keras.losses.CategoricalCrossentropy)
    assert methods.get("balanced-softmax").loss(DATA).tau == 1.0


def test_ldam_uses_a_cosine_head_on_the_same_features():
    model = methods.get("ldam").build_model(SMALL, DATA)
    assert isinstance(model.layers[-1], layers.CosineClassifier)
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"
    assert "logits" not in [layer.name for layer in model.layers]
    assert tuple(model.output.shape) == (None, 3)


def test_drw_starts_at_a_fraction_of_the_run():
    method = methods.get("ldam-drw")
    (callback,) = method.callbacks(DATA, epochs=200)
    assert isinstance(callback, callbacks.DeferredReweighting)
    assert callback.start_epoch == 160 and callback.beta == 0.9999
    assert methods.get("ldam-drw", drw_start=0.5).callbacks(DATA, 10)[0].start_epoch == 5
    assert methods.get("ldam").callbacks(DATA, 10) == []


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("focal", {"gamma": -1.0}, "Received: gamma=-1.0"),
        ("cb-softmax", {"beta": 1.0}, "Received: beta=1.0"),
        ("cb-focal", {"gamma": -0.1}, "Received: gamma=-0.1"),
        ("ldam", {"max_margin": 0.0}, "Received: max_margin=0.0"),
        ("ldam", {"scale": -3.0}, "Received: scale=-3.0"),
        ("ldam-drw", {"drw_start": 1.0}, "Received: drw_start=1.0"),
        ("ldam-drw", {"beta": -0.5}, "Received: beta=-0.5"),
        ("logit-adjusted", {"tau": -1.0}, "Received: tau=-1.0"),
        ("logit-adjusted", {"mode": "both"}, "Received: mode='both'"),
        ("balanced-softmax", {"tau": 2.0}, "Invalid argument received for method"),
    ],
)
def test_invalid_params(name, params, message):
    with pytest.raises(ValueError, match=message):
        methods.get(name, **params)


def test_training_smoke():
    for name, params in (("ldam-drw", {}), ("logit-adjusted", {"mode": "posthoc"})):
        method = methods.get(name, **params)
        model, history = method.train(DATA, tiny_model, epochs=2, batch_size=8)
        assert np.all(np.isfinite(history.history["loss"]))
        probs = method.predict(model, DATA.test[0])
        assert probs.shape == (9, 3)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        if name == "ldam-drw":
            assert history.history["drw_active"] == [0.0, 1.0]
            assert isinstance(model.layers[-1], layers.CosineClassifier)
    assert isinstance(model.layers[-1], layers.LogitAdjustment)


@pytest.mark.slow
def test_training_small_cnn():
    for name in ("ldam-drw", "cb-focal"):
        method = methods.get(name)
        model, history = method.train(DATA, SMALL, epochs=2, batch_size=8)
        assert np.all(np.isfinite(history.history["loss"]))
        assert method.predict(model, DATA.test[0]).shape == (9, 3)


def _weighted_ce_numpy(labels, logits, weights):
    """Per-example w_y · (−log softmax(z)_y), averaged over the batch."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return (-np.asarray(weights)[labels] * log_p[np.arange(len(labels)), labels]).mean()


def test_ce_drw_is_cross_entropy_then_effective_number_weighted():
    method = methods.get("ce-drw", drw_start=0.6)
    assert methods.get("ce-drw").params == {"drw_start": 0.8, "beta": 0.9999}
    assert method.start_epoch(5) == 3 and methods.get("ce-drw").start_epoch(20) == 16
    loss = method.loss(DATA)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0, 2, 1])
    onehot = keras.utils.to_categorical(labels, 3)
    assert float(loss(onehot, logits)) == pytest.approx(
        _weighted_ce_numpy(labels, logits, [1.0, 1.0, 1.0]), rel=1e-5)
    (drw,) = method.callbacks(DATA, 5)
    assert isinstance(drw, callbacks.DeferredReweighting) and drw.start_epoch == 3
    counts = np.asarray(DATA.class_counts, float)  # effective number, β = 0.9999, sum = C
    effective = (1 - 0.9999) / (1 - 0.9999 ** counts)
    expected = effective / effective.sum() * 3
    np.testing.assert_allclose(drw.weights, expected, rtol=1e-6)
    loss.set_class_weights(drw.weights)
    assert float(loss(onehot, logits)) == pytest.approx(
        _weighted_ce_numpy(labels, logits, expected), rel=1e-5)
    assert float(loss(labels, logits)) == pytest.approx(  # integer labels too
        _weighted_ce_numpy(labels, logits, expected), rel=1e-5)
    model, history = method.train(DATA, tiny_model, epochs=5, batch_size=4, seed=0)
    assert history.history["drw_active"] == [0.0, 0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="drw_start=1.0"):
        methods.get("ce-drw", drw_start=1.0)
