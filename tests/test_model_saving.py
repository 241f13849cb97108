"""Every public model saves to and loads from a `.keras` file with `safe_mode=True`:
predictions match after loading, and the optimizer state resumes (one more training step after
save + load gives the same weights as without it)."""

import os

import keras
import numpy as np
import pytest

from kerasimb import models
from kerasimb.layers import LogitAdjustment

RNG = np.random.default_rng(0)
X8 = RNG.random((12, 8, 8, 1)).astype("float32")
X16 = RNG.random((12, 16, 16, 1)).astype("float32")
X32 = RNG.random((6, 32, 32, 3)).astype("float32")
Y = np.arange(12) % 3


def one_hot(y, n=3):
    return keras.utils.to_categorical(y, n).astype("float32")


def ce():
    return keras.losses.CategoricalCrossentropy(from_logits=True)


def small_cnn():
    model = models.SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.0)
    model.compile(keras.optimizers.Adam(1e-2), ce(), metrics=["accuracy"], jit_compile=False)
    return model, X8, one_hot(Y)


def small_cnn_posthoc_adjusted():
    """The `logit-adjusted` posthoc model: a functional model around SmallCNN."""
    base = models.SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.0)
    model = keras.Model(base.inputs, LogitAdjustment([6, 4, 2], 1.0)(base.outputs[0]))
    model.compile(keras.optimizers.Adam(1e-2), ce(), jit_compile=False)
    return model, X8, one_hot(Y)


def quadsnet():
    model = models.QuadSNet((16, 16, 1), 3, filters=(2, 2, 2, 4), classifier_units=(),
                            dropout=0.0, block_dropout=0.0)
    from kerasimb.losses import MarginLoss

    model.compile(keras.optimizers.Adam(1e-2), MarginLoss(class_weights=[1.0, 1.5, 3.0]),
                  jit_compile=False)
    return model, X16, one_hot(Y)


def backbone_classifier():
    model = models.build_classifier("mobilenetv2", (32, 32, 3), 3)
    model.compile(keras.optimizers.SGD(1e-2, momentum=0.9), ce(), jit_compile=False)
    return model, X32, one_hot(Y[:6])


def backbone_resized():
    model = models.build_classifier("mobilenet", (16, 16, 1), 3, resize_to_min=True)  # to 32x32
    model.compile(keras.optimizers.Adam(1e-3), ce(), jit_compile=False)
    return model, X16[:6], one_hot(Y[:6])


def two_stage(metric_loss):
    def build():
        backbone = models.feature_extractor(
            models.SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.0))
        model = models.TwoStageClassifier(backbone, 3, metric_loss=metric_loss,
                                          projection_hidden_dim=8, projection_dim=4)
        model.compile(keras.optimizers.Adam(1e-2), ce(), jit_compile=False)
        return model, X8, one_hot(Y)

    build.__name__ = f"two_stage_{metric_loss}"
    return build


def aduni():
    encoder = models.feature_extractor(
        models.SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.0))
    model = models.AdUni(encoder, 3, class_counts=[6, 4, 2], projection_dim=4)
    model.compile(keras.optimizers.Adam(1e-2), metrics=["accuracy"], jit_compile=False)
    views = (X8, X8[:, ::-1])  # two "augmented" views
    return model, views, Y


def bbn():
    backbone = models.feature_extractor(
        models.SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.0))
    model = models.BBN(backbone, 3, branch_units=6, alpha=0.7)
    model.compile(keras.optimizers.SGD(1e-2, momentum=0.9), ce(), jit_compile=False)
    reversed_y = one_hot(Y[::-1])
    return model, (X8, X8[::-1]), (one_hot(Y), reversed_y)


BUILDERS = [small_cnn, small_cnn_posthoc_adjusted, two_stage("center"), two_stage("supcon"),
            aduni, bbn,
            pytest.param(quadsnet, marks=pytest.mark.slow),  # compiling 4 streams takes a while
            pytest.param(two_stage(None), marks=pytest.mark.slow),
            pytest.param(backbone_classifier, marks=pytest.mark.slow),
            pytest.param(backbone_resized, marks=pytest.mark.slow)]


def _inputs(x):
    return x[0] if isinstance(x, tuple) else x


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: getattr(b, "__name__", str(b)))
def test_keras_file_round_trip_and_optimizer_resume(build, tmp_path):
    keras.utils.set_random_seed(0)
    model, x, y = build()
    model.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0)
    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)

    np.testing.assert_allclose(loaded.predict(_inputs(x), verbose=0),
                               model.predict(_inputs(x), verbose=0), rtol=1e-5, atol=1e-6)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    assert len(loaded.weights) == len(model.weights)
    for a, b in zip(loaded.weights, model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6,
                                   err_msg=a.path)


def test_every_public_model_class_is_covered():
    """A new public model class must be added to BUILDERS above."""
    covered = {"SmallCNN", "QuadSNet", "TwoStageClassifier", "AdUni", "BBN"}
    classes = {name for name in models.__all__
               if isinstance(getattr(models, name), type)
               and issubclass(getattr(models, name), keras.Model)}
    assert classes <= covered, sorted(classes - covered)


def test_safe_mode_refuses_a_lambda_layer(tmp_path):
    """Loading never runs code stored in a model file: a Lambda layer is refused."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    path = os.fspath(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)
