import keras
import numpy as np
import pytest

from kerasimb.callbacks import FeatureSnapshot
from kerasimb.models import SmallCNN, TwoStageClassifier, feature_extractor


def test_records_stage1_features_once_per_fit():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    y = np.eye(2)[np.arange(6) % 2]
    model = TwoStageClassifier(feature_extractor(SmallCNN((8, 8, 1), 2, width=2, depth=1)), 2)
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    snapshot = FeatureSnapshot(x[:4])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[snapshot])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[snapshot])
    assert len(snapshot.snapshots) == 2
    np.testing.assert_allclose(snapshot.snapshots[1], model.extract_features(x[:4]), atol=1e-6)


def test_other_models_and_custom_function():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x = np.ones((4, 3), "float32")
    plain = FeatureSnapshot(x)
    custom = FeatureSnapshot(x, features_fn=lambda m, images: m.predict(images, verbose=0))
    model.fit(x, np.zeros((4, 2)), verbose=0, callbacks=[plain, custom])
    assert plain.snapshots == [None]
    assert custom.snapshots[0].shape == (4, 2)
    with pytest.raises(TypeError, match="features_fn"):
        FeatureSnapshot(x, features_fn=3)
