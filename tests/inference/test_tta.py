"""predict_tta: mean softmax over flips, against a numpy re-derivation."""

import keras
import numpy as np
import pytest
from scipy.special import softmax

from kerasimb import inference


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4, 5, 2)), keras.layers.Flatten(), keras.layers.Dense(3)])


def _numpy_logits(model, x):
    w, b = model.get_weights()
    return x.reshape(len(x), -1) @ w + b


def test_matches_numpy_mean_of_softmaxes():
    model = _model()
    x = np.random.default_rng(1).integers(0, 256, (7, 4, 5, 2)).astype("uint8")
    xf = x.astype("float64") / 255.0
    views = {"horizontal": xf[:, :, ::-1], "vertical": xf[:, ::-1], "horizontal_and_vertical": xf[:, ::-1, ::-1]}
    for flips in ((), ("horizontal",), ("horizontal", "vertical", "horizontal_and_vertical")):
        expected = np.mean([softmax(_numpy_logits(model, v), axis=1) for v in (xf, *(views[f] for f in flips))], axis=0)
        got = inference.predict_tta(model, x, flips=flips, batch_size=3)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_probability_model_and_errors():
    model = keras.Sequential([_model(), keras.layers.Softmax()])
    x = np.random.default_rng(2).random((4, 4, 5, 2)).astype("float32")
    probs = inference.predict_tta(model, x, from_logits=False)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="Received: flips='diagonal'"):
        inference.predict_tta(model, x, flips=("diagonal",))
    with pytest.raises(ValueError, match="at most once"):
        inference.predict_tta(model, x, flips=("horizontal", "horizontal"))
    with pytest.raises(ValueError, match="Expected images of shape"):
        inference.predict_tta(model, x[0])
