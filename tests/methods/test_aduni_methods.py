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
            aduc.params["temperature"], aduc.params["base_temperature"]) == (1.0, 0.01, "cosine",
                                                                             0.1, 0.07)
    assert paco.params["schedule"] is None and paco.params["alpha"] == 0.02
    dataset = tiny_dataset()
    [schedule] = aduc.callbacks(dataset, 7)
    assert isinstance(schedule, AlphaSchedule) and schedule.total_epochs == 7
    assert paco.callbacks(dataset, 7) == []
    model = paco.build_model(model_fn("small_cnn", width=4, depth=1), dataset)
    assert isinstance(model, AdUni) and model.unified_loss.alpha == pytest.approx(0.02)
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
