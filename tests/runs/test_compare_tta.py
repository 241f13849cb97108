"""`runs.compare(test_time_flip=True)`: the stored test probabilities are the mean of the softmax
of the image and of its horizontal mirror (Galdran et al., 2021), re-derived here in numpy from
the trained network; the setting is part of a run's fingerprint."""

import keras
import numpy as np
import pytest

from kerasimb.data import ImageDataset
from kerasimb.runs import compare


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(2), per_class)
        x = rng.uniform(0.0, 0.3, (len(y), 4, 6, 1)).astype(np.float32)
        x[y == 1, :, :2, 0] += 0.7  # class 1: bright on the left, so a mirror changes the logits
        return x, y

    return ImageDataset(split([10, 4]), split([3, 3]), split([5, 5]), ["a", "b"], name="tiny-tta")


def tiny_network(input_shape, num_classes):
    """Dense on the flattened pixels: not mirror-invariant."""
    return keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                             keras.layers.Dense(num_classes)])


class KeepModel(keras.callbacks.Callback):
    """Keeps the trained model of the last `fit` (no model selection: the last epoch's)."""

    def on_train_end(self, logs=None):
        self.kept = self.model


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def numpy_logits(model, x):
    """The Dense layer by hand on the flattened images."""
    kernel, bias = model.layers[-1].get_weights()
    return x.reshape(len(x), -1).astype(np.float64) @ kernel + bias


def _run(dataset, flip, **kwargs):
    keep = KeepModel()
    result = compare(dataset, ["ce"], backbone=tiny_network, epochs=1, seeds=[0], batch_size=4,
                     learning_rate=0.05, progress=False, callbacks=[keep],
                     test_time_flip=flip, **kwargs)
    return result, getattr(keep, "kept", None)  # None: the run was loaded, not trained


def test_test_time_flip_averages_the_softmax_of_the_image_and_its_mirror():
    dataset = tiny_dataset()
    x = dataset.test[0]
    result, model = _run(dataset, True)
    stored = result.probabilities["ce", 0]
    expected = (softmax(numpy_logits(model, x))
                + softmax(numpy_logits(model, x[:, :, ::-1]))) / 2
    np.testing.assert_allclose(stored, expected, atol=1e-5)
    plain = softmax(numpy_logits(model, x))
    assert np.abs(expected - plain).max() > 1e-3  # the mirror really changed the prediction
    assert result.settings["test_time_flip"] is True
    # Without it: the plain softmax, and the setting recorded as None.
    result, model = _run(dataset, False)
    np.testing.assert_allclose(result.probabilities["ce", 0],
                               softmax(numpy_logits(model, x)), atol=1e-5)
    assert result.settings["test_time_flip"] is None


def test_a_folder_resumes_only_with_the_same_test_time_flip(tmp_path):
    dataset = tiny_dataset()
    first, _ = _run(dataset, True, output_dir=str(tmp_path))
    again, model = _run(dataset, True, output_dir=str(tmp_path))
    assert model is None  # loaded from the folder, not trained again
    np.testing.assert_array_equal(again.probabilities["ce", 0], first.probabilities["ce", 0])
    with pytest.raises(ValueError, match="test_time_flip"):
        _run(dataset, False, output_dir=str(tmp_path))


def test_test_time_flip_must_be_a_bool():
    with pytest.raises(TypeError, match="test_time_flip='yes'"):
        compare(tiny_dataset(), ["ce"], backbone=tiny_network, epochs=1, progress=False,
                test_time_flip="yes")
