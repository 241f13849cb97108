"""`inference.InferenceModel`: a saved model predicts exactly as its method scored it, after a
`.keras` round trip in safe mode; its transform re-derived by hand."""

import keras
import numpy as np
import pytest

from kerasimb import data, inference, methods, models

DATASET = data.load_dataset("digits-lt", image_size=8)
TINY = models.model_fn("small_cnn", width=4, depth=1)

# method name -> extra parameters (tiny stage 2), model_fn
CASES = {
    "ce": {},
    "ldam": {},  # softmax(30 * cosine)
    "ce+perturb": {},  # ε chosen on the validation split, then the perturbation
    "reweight+perturb": {"epsilon": 1e-2, "flips": ["horizontal"]},  # perturbed flip views
    "logit-adjusted": {"mode": "posthoc"},  # the adjustment is a layer of the network
    "supcon-crw": {"stage2_epochs": 1},  # a TwoStageClassifier
    "aduni": {},  # models.AdUni
}


@pytest.fixture(scope="module")
def trained():
    out = {}
    for name, params in CASES.items():
        keras.backend.clear_session()
        method = methods.get(name, **params)
        model, _ = method.train(DATASET, TINY, epochs=1, batch_size=64, seed=0)
        out[name] = (method, model)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_saved_model_predicts_as_the_method(name, trained, tmp_path):
    method, model = trained[name]
    x_test = DATASET.test[0]
    expected = method.predict(model, x_test)
    saved = method.inference_model(model, DATASET, metadata={"method": name})
    np.testing.assert_array_equal(saved.predict(x_test), expected)
    path = tmp_path / "model.keras"
    saved.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, inference.InferenceModel)
    np.testing.assert_array_equal(loaded.predict(x_test), expected)
    assert loaded.class_names == DATASET.class_names and loaded.image_shape == (8, 8, 1)
    assert loaded.class_counts == DATASET.class_counts and loaded.metadata == {"method": name}
    assert (loaded.perturbation is not None) == name.endswith("+perturb")


@pytest.mark.parametrize("name", list(CASES))
def test_a_calibration_temperature_scales_what_the_method_predicts(name, trained, tmp_path):
    """With a temperature, the saved model predicts softmax(log p / T) of the method's own
    probabilities p: logits / T for a softmax model, the log of the mean for flip views."""
    method, model = trained[name]
    x_test = DATASET.test[0]
    expected = method.predict(model, x_test).astype(np.float64)
    log_p = np.log(np.maximum(expected, 1e-12)) / 1.7
    expected = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    saved = method.inference_model(model, DATASET, temperature=1.7)
    path = tmp_path / "model.keras"
    saved.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.temperature == 1.7
    np.testing.assert_allclose(loaded.predict(x_test), expected, atol=2e-6)


def test_transform_equals_a_hand_computed_softmax():
    network = keras.Sequential([keras.Input((2, 1, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(3, use_bias=False)])
    network.set_weights([np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], np.float32)])
    model = inference.InferenceModel(network, (2, 1, 1), ["a", "b", "c"], [5, 3, 2],
                                     logit_scale=3.0, temperature=2.0)
    x = np.array([[[[0.2]], [[0.6]]], [[[1.0]], [[0.0]]]], np.float32)
    logits = x.reshape(2, 2) @ np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]) * 3.0 / 2.0
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
    uint8 = np.array([[[[51]], [[153]]]], np.uint8)  # 0.2 and 0.6 of 255
    np.testing.assert_allclose(model.predict(uint8), expected[:1], rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"logit_scale": 0.0}, "logit_scale"),
    ({"temperature": -1.0}, "temperature"),
    ({"perturbation": {"temperature": 10.0}}, "perturbation"),
    ({"perturbation": {"epsilon": -1.0}}, "epsilon"),
    ({"image_shape": (2, 1)}, "image_shape"),
    ({"class_counts": [5, 0, 2]}, "class_counts"),
])
def test_bad_arguments(kwargs, match):
    network = keras.Sequential([keras.Input((2, 1, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(3)])
    arguments = {"network": network, "image_shape": (2, 1, 1), "class_names": ["a", "b", "c"],
                 "class_counts": [5, 3, 2], **kwargs}
    with pytest.raises(ValueError, match=match):
        inference.InferenceModel(**arguments)
