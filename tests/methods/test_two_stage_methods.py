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

    for name, base in (("focal-crw", "focal"), ("mixup-crw", "mixup"), ("cutmix-crw", "cutmix"),
                       ("cb-focal-crw", "cb-focal"), ("ldam-crw", "ldam")):
        assert methods.get(name).params["stage1_method"] == base
        assert methods.get(name).params["metric_loss"] is None
    model, history = methods.get("focal-crw", stage2_epochs=1).train(
        tiny_dataset(), model_fn("small_cnn", width=4, depth=2), epochs=1, batch_size=8, seed=0)
    assert isinstance(model.loss, FocalLoss) and "stage2_loss" in history.history
    with pytest.raises(ValueError, match="Received: stage1_method='logit-adjusted'"):
        methods.get("ce-crw", stage1_method="logit-adjusted")  # its own train()
    with pytest.raises(ValueError, match="Received: stage1_method='nope'"):
        methods.get("ce-crw", stage1_method="nope")
    with pytest.raises(ValueError, match="stage1_method='center-crw'"):
        methods.get("ce-crw", stage1_method="center-crw")


class LearningRates(keras.callbacks.Callback):
    """Records the learning rate each optimizer step uses, and the optimizer."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.optimizer = self.model.optimizer
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def test_paper_stage2_is_sgd_cosine_from_0_1_to_1e_6_on_frozen_features():
    dataset = tiny_dataset()  # 19 training images: 3 batches of 8 per epoch
    x, y = dataset.train
    method = methods.get("ce-crw", stage2_optimizer="paper")
    assert method.params["stage2_epochs"] == 10 and method.stage2_learning_rate(1e-3) == 0.1
    model = TwoStageClassifier(penultimate_features(SmallCNN((8, 8, 1), 3, width=4, depth=2)), 3)
    before = [w.copy() for w in model.backbone.get_weights()]
    features = model.extract_features(x)
    head_before = model.classifier.kernel.numpy().copy()
    recorder = LearningRates()
    model.retrain_classifier(x, y, epochs=10, batch_size=8, callbacks=[recorder],
                             optimizer=method.stage2_optimizer(1e-3, len(y), 8))
    total = 10 * 3
    steps = np.arange(total)
    expected = 1e-6 + (0.1 - 1e-6) * 0.5 * (1.0 + np.cos(np.pi * steps / total))
    np.testing.assert_allclose(recorder.rates, expected, rtol=1e-5, atol=1e-9)
    assert recorder.rates[0] == pytest.approx(0.1) and recorder.rates[-1] < 1e-3
    assert type(recorder.optimizer).__name__ == "SGD"
    assert float(recorder.optimizer.momentum) == 0.9
    assert recorder.optimizer.weight_decay == pytest.approx(5e-4)
    # Stage 2 trained the head and nothing else.
    assert not np.allclose(model.classifier.kernel.numpy(), head_before)
    for old, new in zip(before, model.backbone.get_weights()):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model.extract_features(x), features)


def test_default_stage2_is_unchanged_and_stays_out_of_the_params():
    """Without `stage2_optimizer` the params (what a run folder's fingerprint holds) are those
    recorded before the setting existed, and stage 2 is Adam, cosine-decayed to 0."""
    method = methods.get("ce-crw")
    assert "stage2_optimizer" not in method.params and "stage2_optimizer" in method.defaults
    assert method.stage2_optimizer(1e-3, 19, 8) is None
    assert method.stage2_learning_rate(0.02) == 0.02
    model = TwoStageClassifier(penultimate_features(SmallCNN((8, 8, 1), 3, width=4, depth=2)), 3)
    x, y = tiny_dataset().train
    recorder = LearningRates()
    model.retrain_classifier(x, y, epochs=2, batch_size=8, learning_rate=0.02,
                             callbacks=[recorder])
    steps = np.arange(6)
    np.testing.assert_allclose(recorder.rates, 0.02 * 0.5 * (1 + np.cos(np.pi * steps / 6)),
                               rtol=1e-5)
    assert type(recorder.optimizer).__name__ == "Adam"
    custom = methods.get("ce-crw", stage2_optimizer={"optimizer": "sgd", "momentum": 0.5},
                         stage2_learning_rate=0.3)
    optimizer = custom.stage2_optimizer(1e-3, 19, 8)
    assert float(optimizer.momentum) == 0.5 and float(optimizer.learning_rate) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="Received: stage2_optimizer='rmsprop'"):
        methods.get("ce-crw", stage2_optimizer="rmsprop")
    with pytest.raises(TypeError, match="optimizer="):
        model.retrain_classifier(x, y, epochs=1, optimizer="sgd")


def test_paper_stage2_through_train():
    dataset = tiny_dataset()
    method = methods.get("ce-crw", stage2_optimizer="paper", stage2_epochs=2)
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=1,
                                  batch_size=8, seed=0)
    assert len(history.history["stage2_loss"]) == 2
    assert np.isfinite(method.predict(model, dataset.test[0])).all()


def _ldam_numpy(labels, cosines, counts, max_margin, scale):
    """Cao et al.'s LDAM by hand: margins ∝ n^(-1/4), largest `max_margin`, on the target."""
    margins = np.asarray(counts, float) ** -0.25
    margins = max_margin * margins / margins.max()
    z = scale * (cosines - margins[labels][:, None] * np.eye(cosines.shape[1])[labels])
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_ldam_as_stage1_then_crw():
    dataset = tiny_dataset()
    method = methods.get("ldam-crw", stage2_epochs=1)
    assert method.params["stage1_method"] == "ldam" and method.params["stage2"] == "reweight"
    # Stage 1's loss on the head's logits (30 · cosine) is LDAM (scale 30, margin 0.5) on the
    # cosines.
    rng = np.random.default_rng(1)
    cosines = rng.uniform(-1, 1, (6, 3)).astype("float32")
    labels = np.array([0, 1, 2, 2, 1, 0])
    loss = method.stage1_loss(dataset)(keras.utils.to_categorical(labels, 3), 30.0 * cosines)
    assert float(loss) == pytest.approx(
        _ldam_numpy(labels, cosines, dataset.class_counts, 0.5, 30.0), rel=1e-4)
    model, history = method.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=1,
                                  batch_size=8, seed=0)
    assert model.head == "cosine" and model.head_scale == 30.0
    revived = TwoStageClassifier.from_config(model.get_config())
    assert revived.head == "cosine" and type(revived.classifier).__name__ == "CosineClassifier"
    assert "stage2_loss" in history.history
    probs = method.predict(model, dataset.test[0])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # LDAM-DRW as stage 1 brings its deferred re-weighting along.
    drw = methods.get("ldam-crw", stage1_method="ldam-drw", stage2=None)
    model, history = drw.train(dataset, model_fn("small_cnn", width=4, depth=2), epochs=2,
                               batch_size=8, seed=0)
    assert history.history["drw_active"] == [0.0, 1.0]
    keras.backend.clear_session()
