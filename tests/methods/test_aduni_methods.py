import numpy as np
import pytest

from kerasimb import methods
from kerasimb.callbacks import AlphaSchedule
from kerasimb.data import ImageDataset
from kerasimb.models import AdUni, model_fn


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 80, (len(y), 8, 8, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, :, c * 2:(c + 1) * 2] = 200
        return x, y

    return ImageDataset(split([12, 5, 2]), split([3, 3, 3]), split([4, 4, 4]),
                        ["head", "middle", "tail"], name="tiny")


def test_registered_with_the_papers_settings():
    aduc, paco = methods.get("aduni"), methods.get("paco")
    assert (aduc.params["alpha_max"], aduc.params["alpha_min"], aduc.params["schedule"],
            aduc.params["temperature"], aduc.params["base_temperature"]) == (1.0, 0.01,
                                                                             "stretched", 0.1,
                                                                             0.07)
    assert aduc.params["classifier_dropout"] == 0.5  # the authors' Dropout before the classifier
    assert paco.params["schedule"] is None and paco.params["alpha"] == 0.02
    assert paco.params["queue_size"] == 1024  # the paper's PaCo keeps 1024 keys
    batch, both = methods.get("paco-batch"), methods.get("paco-aduc")
    assert (batch.params["queue_size"], batch.params["alpha"], batch.params["schedule"]) == (
        0, 0.02, None)
    assert (both.name, both.params["queue_size"], both.params["schedule"],
            both.params["alpha_max"], both.params["alpha_min"]) == (
        "paco-aduni", 1024, "stretched", 1.0, 0.01)
    dataset = tiny_dataset()
    [schedule] = aduc.callbacks(dataset, 7)
    assert isinstance(schedule, AlphaSchedule) and schedule.total_epochs == 7
    assert paco.callbacks(dataset, 7) == []
    model = paco.build_model(model_fn("small_cnn", width=4, depth=1), dataset)
    assert isinstance(model, AdUni) and model.unified_loss.alpha == pytest.approx(0.02)
    assert model.queue_size == 1024
    assert model.classifier_dropout == 0.5 and model.dropout.rate == 0.5
    assert model.class_counts == [12, 5, 2]
    assert methods.get("aduni", logit_adjust=False).build_model(
        model_fn("small_cnn", width=4, depth=1), dataset).class_counts is None


@pytest.mark.slow
def test_train_and_predict_end_to_end():
    dataset = tiny_dataset()
    method = methods.get("aduni", projection_dim=8, schedule="compounding")
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=1), epochs=2,
                                  batch_size=8, seed=0)
    assert len(history.history["alpha"]) == 2 and history.history["alpha"][0] == 1.0
    probs = method.predict(model, dataset.test[0])
    assert probs.shape == (12, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="argument `schedule`"):
        methods.get("aduni", schedule="exp")
    with pytest.raises(ValueError, match="argument `alpha_min`"):
        methods.get("aduni", alpha_max=0.1, alpha_min=0.5)
    with pytest.raises(ValueError, match="Invalid argument received for method `paco`"):
        methods.get("paco", queue=128)


def test_search_spaces_default_to_the_method_values():
    keras_tuner = pytest.importorskip("keras_tuner")
    for name in ("aduni", "aduni-fixed-alpha", "paco"):
        method = methods.get(name)
        drawn = method.hyperparameters(keras_tuner.HyperParameters())
        assert {k: drawn[k] for k in method.search_space} == {
            k: method.params[k] for k in method.search_space}


def test_classifier_dropout_drops_features_before_the_classifier_only():
    """Training: the logits come from dropped features (rate 0.5 zeroes about half and scales
    the rest by 2); inference: no dropout; the projection head always sees the whole features."""
    import keras
    import numpy as np

    from kerasimb.models import SmallCNN, feature_extractor

    keras.utils.set_random_seed(0)
    encoder = feature_extractor(SmallCNN((8, 8, 1), 3, width=8, depth=1))
    model = AdUni(encoder, 3, classifier_dropout=0.5, projection_dim=4)
    x = np.random.default_rng(0).random((64, 8, 8, 1)).astype("float32")
    h = encoder(x)
    plain = model.classifier(h)
    np.testing.assert_allclose(model(x, training=False), plain, atol=1e-6)
    dropped = np.asarray(model.dropout(h, training=True))
    zeros = np.mean(dropped == 0.0) - np.mean(np.asarray(h) == 0.0)
    assert 0.35 < zeros < 0.65
    kept = dropped != 0.0
    np.testing.assert_allclose(dropped[kept], 2.0 * np.asarray(h)[kept], rtol=1e-5)
    assert not np.allclose(model(x, training=True), plain, atol=1e-3)
    restored = AdUni.from_config(model.get_config())
    assert restored.classifier_dropout == 0.5
    assert AdUni(feature_extractor(SmallCNN((8, 8, 1), 3, width=4, depth=1)), 3).dropout is None
    with pytest.raises(ValueError, match="classifier_dropout"):
        AdUni(encoder, 3, classifier_dropout=1.0)
