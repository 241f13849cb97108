"""`callbacks.FreezeBackbone`: head first on a frozen backbone, then every layer; its checks and
its wiring into `runs.compare` and the command line."""

import warnings

import keras
import numpy as np
import pytest

from kerasimb import data, methods, models, runs
from kerasimb.callbacks import FreezeBackbone
from kerasimb.callbacks.freeze import check_freeze_backbone, find_backbone


def tiny_classifier():
    """A functional model with a nested backbone holding a BatchNormalization layer."""
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="features")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    backbone = keras.Model(inputs, keras.layers.ReLU()(x), name="tiny_backbone")
    images = keras.Input((6,))
    outputs = keras.layers.Dense(3, name="logits")(backbone(images))
    return keras.Model(images, outputs, name="tiny_classifier"), backbone


class Snapshots(keras.callbacks.Callback):
    """Copies of the backbone's weights (trainable and BN statistics) and the head's after
    every epoch."""

    def __init__(self, backbone):
        super().__init__()
        self.backbone, self.epochs = backbone, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(([w.numpy().copy() for w in self.backbone.weights],
                            self.model.get_layer("logits").get_weights()[0].copy()))


def changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 6)).astype("float32"), np.eye(3)[rng.integers(0, 3, 64)]


def fit(model, xy, callbacks, epochs=3, initial_epoch=0):
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy")
    return model.fit(*xy, batch_size=16, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
                     shuffle=False, callbacks=callbacks)


def test_backbone_frozen_for_the_first_epochs_then_fine_tuned(xy):
    keras.utils.set_random_seed(0)
    model, backbone = tiny_classifier()
    start = [w.numpy().copy() for w in backbone.weights]
    snapshots = Snapshots(backbone)
    fit(model, xy, [FreezeBackbone(epochs=2), snapshots])
    (epoch1, head1), (epoch2, head2), (epoch3, head3) = snapshots.epochs
    # frozen: neither the weights nor the batch-norm statistics move (inference mode)
    assert not changed(start, epoch1) and not changed(start, epoch2)
    assert changed(start, epoch3)
    assert not np.array_equal(head1, head2) and not np.array_equal(head2, head3)  # head trains
    # the optimizer holds a slot for every variable from the start; trainable is put back
    # (Adam: the iteration count, the learning rate, then m and v per variable)
    assert len(model.optimizer.variables) == 2 + 2 * len(model.trainable_variables)
    assert backbone.trainable and len(model.trainable_variables) == 6


def test_none_keeps_it_frozen_throughout_and_restores_trainable(xy):
    model, backbone = tiny_classifier()
    start = [w.numpy().copy() for w in backbone.weights]
    snapshots = Snapshots(backbone)
    fit(model, xy, [FreezeBackbone(), snapshots], epochs=2)
    assert not changed(start, snapshots.epochs[-1][0])
    assert backbone.trainable
    # the next fit trains every layer again (the step is traced anew)
    model.fit(*xy, epochs=1, verbose=0)
    assert changed(start, [w.numpy() for w in backbone.weights])


def test_a_run_resumed_after_the_switch_goes_on_unfrozen(xy):
    model, backbone = tiny_classifier()
    start = [w.numpy().copy() for w in backbone.weights]
    snapshots = Snapshots(backbone)
    fit(model, xy, [FreezeBackbone(epochs=1), snapshots], epochs=3, initial_epoch=2)
    assert len(snapshots.epochs) == 1 and changed(start, snapshots.epochs[0][0])


def test_find_backbone_and_errors():
    model, backbone = tiny_classifier()
    assert find_backbone(model) is backbone
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="flat")
    with pytest.raises(ValueError, match="nested keras.Model.*'flat'"):
        find_backbone(flat)
    with pytest.raises(ValueError, match="epochs"):
        FreezeBackbone(epochs=0)
    assert check_freeze_backbone(None, 5) is None and check_freeze_backbone(False, 5) is None
    assert check_freeze_backbone(True, 5) is True and check_freeze_backbone(4, 5) == 4
    for bad in (0, 5, 2.5, "2"):
        with pytest.raises(ValueError, match=r"freeze_backbone.*epochs - 1 = 4.*Received: "
                                             rf"freeze_backbone={bad!r}"):
            check_freeze_backbone(bad, 5)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    features = keras.applications.MobileNetV2(include_top=False, weights=None,
                                              input_shape=(32, 32, 3), pooling="avg")
    path = str(tmp_path_factory.mktemp("weights") / "mobilenetv2_notop.weights.h5")
    features.save_weights(path)
    return path


def test_compare_trains_a_pretrained_mobilenet_head_first(weights_file):
    dataset = data.load_dataset("digits-lt", image_size=32)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            backbone = find_backbone(self.model)
            seen.append((len(self.model.trainable_variables), backbone.trainable))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runs.compare(dataset, methods=["ce"], backbone="mobilenetv2", epochs=2,
                              batch_size=64, seeds=[0], weights=weights_file,
                              freeze_backbone=1, callbacks=[Record()], progress=False)
    assert seen[0] == (2, False) and seen[1][1] and seen[1][0] > 100  # head only, then all
    assert result.settings["freeze_backbone"] == 1
    text = runs.report.report_markdown(result)
    assert "- backbone frozen for the first 1 epoch, then every layer fine-tuned" in text
    assert "- pretrained weights: `mobilenetv2_notop.weights.h5`" in text
    assert "augmentation" not in text.split("## Results")[0]  # none was used


def test_compare_refuses_freezing_without_weights():
    with pytest.raises(ValueError, match=r"freeze_backbone.*weights.*Received: "
                                         r"freeze_backbone=True, weights=None"):
        runs.compare("digits-lt", methods=["ce"], backbone="mobilenetv2", epochs=2,
                     freeze_backbone=True, progress=False)
    with pytest.raises(ValueError, match="epochs - 1 = 1"):
        runs.compare("digits-lt", methods=["ce"], epochs=2, freeze_backbone=2, progress=False)


def test_two_stage_methods_freeze_their_feature_model(weights_file):
    dataset = data.load_dataset("digits-lt", image_size=32)
    make = models.model_fn("mobilenetv2", weights=weights_file)
    method = methods.get("ce-crw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = method.build_model(make, dataset)
    assert find_backbone(model) is model.backbone
