import math

import keras
import numpy as np
import pytest

from kerasimb import methods
from kerasimb.data import ImageDataset
from kerasimb.methods.two_stage import penultimate_features, warmup_cosine_schedule
from kerasimb.models import SmallCNN, TwoStageClassifier, model_fn

NAMES = [f"{a}-{b}" for a in ("ce", "center", "triplet", "supcon") for b in ("crw", "crs")]


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
    for name in NAMES:
        assert name in methods.names()
        params = methods.get(name).params
        assert params["stage2"] == ("reweight" if name.endswith("crw") else "resample")
        assert params["metric_loss"] == {"ce": None}.get(name.split("-")[0], name.split("-")[0])
    assert methods.get("center-crw").metric_weight == 0.001
    assert methods.get("triplet-crs").metric_weight == 0.001
    assert methods.get("supcon-crw").metric_weight == 1.0
    assert methods.get("supcon-crw", metric_weight=0.1).metric_weight == 0.1


def test_warmup_cosine_schedule_matches_formula():
    lr, total, warm = 0.2, 12, 4
    schedule = warmup_cosine_schedule(lr, total, warm)
    for step in range(total + 1):
        if step < warm:
            expected = lr * step / warm
        else:
            expected = 0.5 * lr * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        assert abs(float(schedule(step)) - expected) < 1e-6, step
    assert abs(float(warmup_cosine_schedule(lr, 10, 0)(0)) - lr) < 1e-7


def test_penultimate_features_skips_dropout():
    model = SmallCNN((8, 8, 1), 3, width=4, depth=2, dropout=0.5)
    features = penultimate_features(model)
    assert features.layers[-1].name == "pooler"
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in features.layers)
    pooled = keras.Model(model.inputs, model.get_layer("pooler").output)
    x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(features.predict(x, verbose=0), pooled.predict(x, verbose=0))


def test_train_runs_both_stages_and_predicts():
    dataset = tiny_dataset()
    method = methods.get("center-crs", stage2_epochs=2, warmup_epochs=1)
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=2,
                                  batch_size=8, learning_rate=1e-2, seed=0)
    assert isinstance(model, TwoStageClassifier) and model.metric_loss == "center"
    assert len(history.history["loss"]) == 2 and len(history.history["stage2_loss"]) == 2
    assert "stage2_val_accuracy" in history.history
    probs = method.predict(model, dataset.test[0])
    assert probs.shape == (12, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_ablation_rows_are_parameters():
    dataset = tiny_dataset()
    method = methods.get("supcon-crw", ce_weight=0.0, stage2_epochs=1)  # SC -> cRW
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=1,
                                  batch_size=8, seed=0)
    assert model.ce_weight == 0.0 and "stage2_loss" in history.history
    model, history = methods.get("ce-crw", stage2=None).train(
        dataset, model_fn("small_cnn", width=4, depth=2), epochs=1, batch_size=8, seed=0)
    assert not any(k.startswith("stage2_") for k in history.history)
    keras.backend.clear_session()


def test_errors():
    with pytest.raises(ValueError, match="Received: metric_loss='npair'"):
        methods.get("ce-crw", metric_loss="npair")
    with pytest.raises(ValueError, match="Received: stage2='smote'"):
        methods.get("ce-crw", stage2="smote")
    with pytest.raises(ValueError, match="ce_weight=0"):
        methods.get("supcon-crw", ce_weight=0.0, stage2=None)
    with pytest.raises(ValueError, match="Received: warmup_steps=10"):
        warmup_cosine_schedule(0.1, 10, 10)


def test_two_stage_versions_of_the_baselines():
    from kerasimb.losses import FocalLoss

    for name, base in (("focal-crw", "focal"), ("mixup-crw", "mixup"), ("cutmix-crw", "cutmix")):
        assert methods.get(name).params["stage1_method"] == base
        assert methods.get(name).params["metric_loss"] is None
    model, history = methods.get("focal-crw", stage2_epochs=1).train(
        tiny_dataset(), model_fn("small_cnn", width=4, depth=2), epochs=1, batch_size=8, seed=0)
    assert isinstance(model.loss, FocalLoss) and "stage2_loss" in history.history
    with pytest.raises(ValueError, match="Received: stage1_method='ldam'"):
        methods.get("ce-crw", stage1_method="ldam")
    with pytest.raises(ValueError, match="stage1_method='center-crw'"):
        methods.get("ce-crw", stage1_method="center-crw")
