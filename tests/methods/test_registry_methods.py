import keras
import numpy as np
import pytest

from kerasimb import methods
from kerasimb.data import ImageDataset
from kerasimb.methods import Method
from kerasimb.models import model_fn


def tiny_dataset(num_classes=3, counts=(8, 4, 2), size=8, seed=0):
    """Class c images are bright in a different quarter; enough for a 1-epoch smoke test."""
    rng = np.random.default_rng(seed)

    def split(per_class):
        y = np.repeat(np.arange(num_classes), per_class)
        x = rng.integers(0, 60, (len(y), size, size, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, (c % 2) * (size // 2):(c % 2 + 1) * (size // 2), (c // 2) * (size // 2):, 0] += 180
        return x, y

    return ImageDataset(split(list(counts)), split([3] * num_classes), split([4] * num_classes),
                        [f"c{i}" for i in range(num_classes)], name="tiny")


def test_builtin_names():
    names = methods.names()
    assert {"ce", "reweight"} <= set(names)
    assert names == sorted(names)
    assert isinstance(methods.get("ce"), methods.get("ce").__class__)
    assert methods.get("ce").name == "ce" and methods.get("ce").description


def test_register_get_unregister():
    @methods.register("test-only_1")
    class Custom(Method):
        description = "a test method"
        defaults = {"alpha": 1.0}

    try:
        assert "test-only_1" in methods.names()
        assert Custom.name == "test-only_1"
        instance = methods.get("test-only_1", alpha=2.0)
        assert isinstance(instance, Custom) and instance.params == {"alpha": 2.0}
        assert methods.get(Custom).params == {"alpha": 1.0}
        assert methods.get(instance) is instance
        assert repr(instance) == "Custom(alpha=2.0)"
        methods.register("test-only_1", Custom)  # the same class again is fine
        with pytest.raises(ValueError, match="already registered"):
            methods.register("test-only_1", type("Other", (Method,), {}))
        with pytest.raises(ValueError, match="cannot be applied to an existing instance"):
            methods.get(instance, alpha=3.0)
        with pytest.raises(ValueError, match=r"Expected parameters: \['alpha'\]"):
            methods.get("test-only_1", gamma=1.0)
    finally:
        methods.unregister("test-only_1")
    assert "test-only_1" not in methods.names()
    methods.unregister("test-only_1")  # unregistering twice is a no-op


def test_register_with_aliases():
    @methods.register("test-only_2", aliases=("test-alias_2",))
    class Custom(Method):
        description = "a test method with an alias"

    try:
        assert methods.get("test-alias_2").name == "test-only_2"
        assert type(methods.get("test-alias_2")) is Custom
        assert "test-only_2" in methods.names() and "test-alias_2" not in methods.names()
        assert methods.METHODS.describe()[methods.names().index("test-only_2")] == (
            "test-only_2", ("test-alias_2",), "a test method with an alias")
        with pytest.raises(ValueError, match="'test-alias_2' is already registered"):
            methods.register("test-alias_2", type("Other", (Method,), {}))
        with pytest.raises(ValueError, match="argument `aliases`.*'ce' is already registered"):
            methods.register("test-only_3", type("Other", (Method,), {}), aliases=("ce",))
        assert "test-only_3" not in methods.names()
        with pytest.raises(ValueError, match="already registered as the method 'test-only_2'"):
            methods.register("test-only_4", Custom)  # one class, one name (plus aliases)
    finally:
        methods.unregister("test-only_2")
    assert "test-alias_2" not in methods.METHODS


@pytest.mark.parametrize("alias", ["", "Upper", "dot.ted", 3])
def test_register_rejects_malformed_aliases(alias):
    with pytest.raises(ValueError, match=r"argument `aliases`.*lowercase letters"):
        methods.register("test-only_5", type("Other", (Method,), {}), aliases=(alias,))
    assert "test-only_5" not in methods.names()


def test_modifiers_live_in_their_own_registry():
    assert methods.MODIFIERS.names() == ["perturb"]
    assert "perturb" not in methods.METHODS
    assert methods.get("ce+perturb").name == "ce+perturb"
    assert methods.get("aduc+perturb").name == "aduni+perturb"  # the base through its alias
    with pytest.raises(ValueError, match=r"modifier \['\+perturb'\]"):
        methods.get("ce+nope")


@pytest.mark.parametrize("name", ["", "Upper", "with space", "dot.ted", 3, None])
def test_register_rejects_malformed_names(name):
    with pytest.raises(ValueError, match="lowercase letters"):
        methods.register(name, Method)


def test_register_rejects_non_methods():
    with pytest.raises(TypeError, match="subclass of `kerasimb.methods.Method`"):
        methods.register("not-a-method", object)
    with pytest.raises(TypeError):
        methods.register("not-a-method")(lambda: None)
    assert "not-a-method" not in methods.names()


def test_get_unknown_name_lists_registered_names():
    with pytest.raises(ValueError, match=r"one of \[.*'ce'.*'reweight'.*\]") as info:
        methods.get("focal-nope")
    assert "identifier='focal-nope'" in str(info.value)
    assert "(aliases: ['aduc', 'paco-aduc'])" in str(info.value)
    with pytest.raises(ValueError):
        methods.get(42)


def test_reweight_params_validation():
    assert methods.get("reweight").params == {"weighting": "inverse", "beta": 0.9999}
    with pytest.raises(ValueError, match="weighting='squared'"):
        methods.get("reweight", weighting="squared")
    with pytest.raises(ValueError, match="beta=1.0"):
        methods.get("reweight", beta=1.0)
    with pytest.raises(TypeError, match="beta"):
        methods.get("reweight", beta="0.9")
    with pytest.raises(ValueError, match="Invalid argument received for method `reweight`"):
        methods.get("reweight", gamma=2.0)
    with pytest.raises(ValueError, match="no.*parameters|none"):
        methods.get("ce", weighting="inverse")


@pytest.mark.parametrize("weighting", ["inverse", "sqrt_inverse", "effective"])
def test_reweight_class_weight_by_hand(weighting):
    dataset = tiny_dataset(counts=(8, 4, 2))
    n = np.array([8.0, 4.0, 2.0])
    beta = 0.9
    raw = {"inverse": 1.0 / n, "sqrt_inverse": n ** -0.5,
           "effective": (1.0 - beta) / (1.0 - beta ** n)}[weighting]
    expected = raw / raw.sum() * len(n)
    kwargs = methods.get("reweight", weighting=weighting, beta=beta).fit_kwargs(dataset)
    assert set(kwargs) == {"class_weight"}
    assert sorted(kwargs["class_weight"]) == [0, 1, 2]
    np.testing.assert_allclose([kwargs["class_weight"][i] for i in range(3)], expected, rtol=1e-9)
    if weighting == "inverse":  # 1/8 : 1/4 : 1/2, normalised to sum to 3
        np.testing.assert_allclose(expected, [3 / 7, 6 / 7, 12 / 7])


def test_ce_has_no_class_weight():
    assert methods.get("ce").fit_kwargs(tiny_dataset()) == {}


@pytest.mark.parametrize("name", ["ce", "reweight"])
def test_one_epoch_train_and_predict(name):
    dataset = tiny_dataset()
    method = methods.get(name)
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=1,
                                  batch_size=8, learning_rate=1e-2, seed=0)
    assert isinstance(model, keras.Model)
    assert set(history.history) >= {"loss", "val_loss", "accuracy", "val_accuracy"}
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    x_test, _ = dataset.test
    logits = model.predict(x_test.astype("float32") / 255.0, verbose=0)
    assert logits.shape == (len(x_test), 3)
    probs = method.predict(model, x_test)
    assert probs.shape == (len(x_test), 3)
    assert np.all(probs >= 0) and np.all(probs <= 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # predict = softmax of the model's logits, computed independently with numpy.
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, shifted / shifted.sum(axis=1, keepdims=True), atol=1e-5)
    # uint8 and [0, 1] float inputs give the same predictions.
    np.testing.assert_allclose(method.predict(model, x_test.astype("float32") / 255.0), probs,
                               atol=1e-6)


def test_train_validates_arguments():
    with pytest.raises(ValueError, match="epochs=0"):
        methods.get("ce").train(tiny_dataset(), model_fn("small_cnn"), epochs=0)
    with pytest.raises(ValueError, match="batch_size=0"):
        methods.get("ce").train(tiny_dataset(), model_fn("small_cnn"), batch_size=0)
