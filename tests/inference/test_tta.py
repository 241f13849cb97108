"""predict_tta: mean softmax over flips, against a numpy re-derivation."""

import keras
import numpy as np
import pytest
from scipy.special import softmax

from kerasimb import inference
from kerasimb.inference.tta import FLIPS, check_flips, flip_images


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


def test_flip_images_by_hand():
    x = np.arange(6.0).reshape(1, 2, 3, 1)  # rows [0 1 2] and [3 4 5]
    expected = {"horizontal": [[2, 1, 0], [5, 4, 3]], "vertical": [[3, 4, 5], [0, 1, 2]],
                "horizontal_and_vertical": [[5, 4, 3], [2, 1, 0]]}
    assert set(expected) == set(FLIPS)
    for flip, rows in expected.items():
        np.testing.assert_array_equal(np.asarray(flip_images(x, flip))[0, :, :, 0], rows)
    with pytest.raises(ValueError, match="Received: flip='diagonal'"):
        flip_images(x, "diagonal")


def test_check_flips():
    assert check_flips(None) == () and check_flips(()) == ()
    assert check_flips("vertical") == ("vertical",)
    assert check_flips(["horizontal", "vertical"]) == ("horizontal", "vertical")
    with pytest.raises(ValueError, match="Received: flips='diagonal'"):
        check_flips(["diagonal"])
    with pytest.raises(ValueError, match="at most once"):
        check_flips(("vertical", "vertical"))


def test_one_flip_name_and_none_are_accepted_by_predict_tta():
    model = _model()
    x = np.random.default_rng(3).random((2, 4, 5, 2)).astype("float32")
    np.testing.assert_allclose(inference.predict_tta(model, x, flips="horizontal"),
                               inference.predict_tta(model, x, flips=("horizontal",)), atol=1e-7)
    np.testing.assert_allclose(inference.predict_tta(model, x, flips=None),
                               inference.predict_tta(model, x, flips=()), atol=1e-7)
