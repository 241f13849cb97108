"""Training configuration as data: optimizers, learning-rate schedules, and their use in
`Method.train`, `runs.compare`, the report, the fingerprint and resume."""

import json
import math
import os
import sys

import keras
import numpy as np
import pytest

from kerasimb import methods, runs
from kerasimb.callbacks import ResumableBackup
from kerasimb.methods.optimization import (ConstantSchedule, CosineSchedule, CyclicSchedule,
                                           StepSchedule, build_optimizer, describe_training,
                                           make_optimizer, make_schedule, training_config)
from kerasimb.models import model_fn
from kerasimb.runs.report import report_markdown

TINY_MODEL = model_fn("small_cnn", width=4, depth=2)


def values(schedule, steps):
    return np.array([float(schedule(s)) for s in steps])


sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reliability"))
import resume_script  # noqa: E402  (tests/reliability: the tiny dataset of the resume tests)


def tiny_dataset():
    return resume_script.tiny_dataset((8, 4, 2), (2, 2, 2), (3, 3, 3))


# --- Schedules against hand-computed formulas --------------------------------------------------

def test_warmup_then_cosine_to_floor():
    base, floor, total, warm = 0.1, 1e-3, 20, 4
    s = CosineSchedule(base, total, warmup_steps=warm, floor=floor)
    steps = np.arange(0, 25)
    expected = np.where(
        steps < warm, base * (steps + 1) / warm,
        floor + (base - floor) * 0.5 * (1 + np.cos(np.pi * np.clip((steps - warm) / (total - warm),
                                                                    0, 1))))
    np.testing.assert_allclose(values(s, steps), expected, rtol=1e-5, atol=1e-8)
    assert values(s, [3])[0] == pytest.approx(base)  # the warm-up reaches base_lr
    assert values(s, [20, 24]) == pytest.approx([floor, floor])  # held at the floor


def test_step_drops():
    s = StepSchedule(0.01, step_size=50, factor=0.1, warmup_steps=10)
    steps = np.array([0, 4, 9, 10, 49, 50, 99, 100, 150, 199])
    expected = np.where(steps < 10, 0.01 * (steps + 1) / 10, 0.01 * 0.1 ** (steps // 50))
    np.testing.assert_allclose(values(s, steps), expected, rtol=1e-5)
    floored = StepSchedule(1.0, step_size=1, factor=0.1, floor=1e-3)
    np.testing.assert_allclose(values(floored, [0, 1, 2, 3, 6]), [1, 0.1, 0.01, 1e-3, 1e-3],
                               rtol=1e-5)


def test_cyclic_restarts():
    base, floor, cycle, warm = 0.01, 1e-4, 10, 3
    s = CyclicSchedule(base, cycle, warmup_steps=warm, floor=floor)
    steps = np.arange(0, 40)
    t = ((steps - warm) % cycle) / cycle
    expected = np.where(steps < warm, base * (steps + 1) / warm,
                        floor + (base - floor) * 0.5 * (1 + np.cos(np.pi * t)))
    np.testing.assert_allclose(values(s, steps), expected, rtol=1e-5, atol=1e-9)
    assert values(s, [3, 13, 23]) == pytest.approx([base] * 3)  # each cycle restarts


def test_constant_with_warmup():
    np.testing.assert_allclose(values(ConstantSchedule(0.2, warmup_steps=4), range(6)),
                               [0.05, 0.1, 0.15, 0.2, 0.2, 0.2], rtol=1e-6)
    np.testing.assert_allclose(values(ConstantSchedule(0.2), range(3)), [0.2] * 3)


def test_make_schedule_defaults_and_errors():
    assert isinstance(make_schedule("constant", 0.1, 10), ConstantSchedule)
    assert make_schedule("step", 0.1, 100).step_size == 25  # a quarter of the run
    assert make_schedule("cyclic", 0.1, 100).cycle_steps == 25
    with pytest.raises(ValueError, match="kind"):
        make_schedule("linear", 0.1, 10)
    with pytest.raises(ValueError, match="floor"):
        make_schedule("cosine", 0.1, 10, floor=0.5)


@pytest.mark.parametrize("schedule", [
    ConstantSchedule(0.1, warmup_steps=2),
    CosineSchedule(0.1, 50, warmup_steps=5, floor=1e-4),
    StepSchedule(0.1, 10, factor=0.5, warmup_steps=1, floor=1e-3),
    CyclicSchedule(0.1, 7, warmup_steps=2, floor=1e-3),
], ids=lambda s: type(s).__name__)
def test_schedule_serialization_round_trip(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    revived = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert type(revived) is type(schedule) and revived.get_config() == schedule.get_config()
    np.testing.assert_allclose(values(revived, range(60)), values(schedule, range(60)))
    # inside an optimizer too
    opt = keras.optimizers.SGD(schedule)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert again.learning_rate is not None
    assert type(again._learning_rate) is type(schedule)


# --- Optimizers -------------------------------------------------------------------------------

def test_make_optimizer_classes_and_hyperparameters():
    sgd = make_optimizer("sgd", 0.01, momentum=0.8, nesterov=True, weight_decay=5e-4)
    assert type(sgd) is keras.optimizers.SGD
    assert float(sgd.momentum) == pytest.approx(0.8) and sgd.nesterov
    assert sgd.weight_decay == pytest.approx(5e-4)
    assert float(sgd.learning_rate) == pytest.approx(0.01)
    assert float(make_optimizer("sgd").momentum) == pytest.approx(0.9)
    adamw = make_optimizer("adamw", 1e-3, weight_decay=0.05)
    assert type(adamw) is keras.optimizers.AdamW and adamw.weight_decay == pytest.approx(0.05)
    adam = make_optimizer("adam", 1e-3)
    assert type(adam) is keras.optimizers.Adam and adam.weight_decay is None
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer("adam", momentum=0.9)
    with pytest.raises(ValueError, match="name"):
        make_optimizer("rmsprop")


def test_build_optimizer_epochs_to_steps():
    opt = build_optimizer({"optimizer": "sgd", "lr_schedule": "cosine", "warmup_epochs": 2,
                           "lr_floor": 1e-6}, 1e-3, epochs=10, steps_per_epoch=5)
    schedule = opt._learning_rate
    assert isinstance(schedule, CosineSchedule)
    assert (schedule.total_steps, schedule.warmup_steps, schedule.floor) == (50, 10, 1e-6)
    step = build_optimizer({"lr_schedule": "step", "step_epochs": 3}, 0.1, 12, 4)._learning_rate
    assert step.step_size == 12
    assert type(build_optimizer(None, 1e-3, 2, 2)) is keras.optimizers.Adam


def test_training_config():
    assert training_config(None) is None and training_config("adam") is None
    assert training_config({"optimizer": "adam", "lr_schedule": "constant"}) is None
    config = training_config("sgd")
    assert config["optimizer"] == "sgd" and config["momentum"] == 0.9
    with pytest.raises(ValueError, match="Unknown keys"):
        training_config({"optimiser": "sgd"})
    with pytest.raises(ValueError, match="lr_schedule"):
        training_config({"lr_schedule": "linear"})
    with pytest.raises(ValueError, match="warmup_epochs"):
        training_config({"warmup_epochs": -1})
    with pytest.raises(ValueError, match="momentum"):
        training_config({"optimizer": "adamw", "momentum": 0.9})


def test_describe_training():
    assert describe_training(None, 0.001) == "Adam (learning rate 0.001)"
    text = describe_training({"optimizer": "sgd", "weight_decay": 5e-4, "lr_schedule": "cosine",
                              "warmup_epochs": 5, "lr_floor": 1e-6}, 1e-3)
    assert text == ("SGD (learning rate 0.001, momentum 0.9, weight decay 0.0005; cosine "
                    "schedule to 1e-06 after 5 warm-up epochs)")


# --- Method.train -----------------------------------------------------------------------------

def test_method_train_uses_the_configuration():
    keras.backend.clear_session()
    config = {"optimizer": "sgd", "momentum": 0.5, "weight_decay": 1e-4,
              "lr_schedule": "cosine", "lr_floor": 1e-4}
    model, history = methods.get("ce").train(tiny_dataset(), TINY_MODEL, epochs=2, batch_size=8,
                                             learning_rate=0.05, optimizer=config)
    opt = model.optimizer
    assert type(opt) is keras.optimizers.SGD and float(opt.momentum) == pytest.approx(0.5)
    assert isinstance(opt._learning_rate, CosineSchedule)
    assert int(opt.iterations) == 2 * 2  # 14 training images, batches of 8
    assert float(opt.learning_rate) == pytest.approx(1e-4)  # reached the floor
    assert len(history.history["loss"]) == 2


def test_aduni_takes_the_configured_optimizer_and_schedule():
    """AdUni compiles its own model (its loss is the model's) but with the configuration's
    optimizer: SGD with momentum and a cosine schedule, as the paper's protocol."""
    keras.backend.clear_session()
    method = methods.get("aduni")
    model, _ = method.train(tiny_dataset(), TINY_MODEL, epochs=1, batch_size=8,
                            optimizer={"optimizer": "sgd", "momentum": 0.9,
                                       "lr_schedule": "cosine", "lr_floor": 1e-3})
    assert type(model.optimizer) is keras.optimizers.SGD
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    assert isinstance(model.optimizer._learning_rate, CosineSchedule)
    keras.backend.clear_session()
    model, _ = method.train(tiny_dataset(), TINY_MODEL, epochs=1, batch_size=8,
                            optimizer={"lr_schedule": "cosine", "lr_floor": 1e-5})
    assert type(model.optimizer) is keras.optimizers.Adam
    assert isinstance(model.optimizer._learning_rate, CosineSchedule)


def test_a_method_that_ignores_the_built_optimizer_is_refused():
    """A method whose own `compile` builds Adam whatever it is given cannot silently drop the
    configured SGD."""
    from kerasimb.methods.registry import compile_with

    class OwnAdam(methods.Method):
        name = "own-adam"

        def compile(self, model, dataset, learning_rate, jit_compile="auto"):
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")

    keras.backend.clear_session()
    network = TINY_MODEL((8, 8, 1), 3)
    with pytest.raises(ValueError, match="compiles its own Adam"):
        compile_with(OwnAdam(), network, tiny_dataset(), training_config("sgd"), 1e-2, 1, 2,
                     "auto")


# --- compare: settings, report, fingerprint, resume --------------------------------------------

def test_compare_sgd_cosine_settings_report_fingerprint(tmp_path):
    config = {"optimizer": "sgd", "lr_schedule": "cosine", "warmup_epochs": 1,
              "lr_floor": 1e-4}
    result = runs.compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=2, seeds=[0],
                          batch_size=8, learning_rate=1e-2, progress=False, optimizer=config,
                          output_dir=str(tmp_path / "out"))
    s = result.settings
    assert s["optimizer"] == "SGD" and s["training"] == training_config(config)
    text = report_markdown(result)
    assert ("optimizer: SGD (learning rate 0.01, momentum 0.9; cosine schedule to 0.0001 after "
            "1 warm-up epoch)") in text
    fingerprint = runs.run_fingerprint(s, {"name": "toy"}, "ce", 0)
    assert fingerprint["optimizer"] == "SGD" and fingerprint["training"]["lr_schedule"] == "cosine"
    default = {**s, "optimizer": "Adam", "training": None}
    assert "training" not in runs.run_fingerprint(default, {"name": "toy"}, "ce", 0)
    other = {**s, "training": {**s["training"], "lr_floor": 0.0}}
    assert runs.run_fingerprint(other, {"name": "toy"}, "ce", 0) != fingerprint
    # the same folder with another optimizer is a different experiment
    with pytest.raises(ValueError):
        runs.compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=2, seeds=[0],
                     batch_size=8, learning_rate=1e-2, progress=False, optimizer="adamw",
                     output_dir=str(tmp_path / "out"))


def test_default_compare_settings_unchanged():
    result = runs.compare(tiny_dataset(), ["ce"], backbone=TINY_MODEL, epochs=1, seeds=[0],
                          batch_size=8, progress=False)
    assert result.settings["optimizer"] == "Adam" and result.settings["training"] is None


def test_killed_and_resumed_sgd_cosine_equals_uninterrupted(tmp_path):
    """The backup restores `optimizer.iterations`, so the schedule continues where it stopped."""
    config = {"optimizer": "sgd", "nesterov": True, "weight_decay": 1e-3,
              "lr_schedule": "cosine", "warmup_epochs": 1, "lr_floor": 1e-4}
    backup_dir = tmp_path / "backup"

    class Stop(Exception):
        pass

    class StopAfterSecondEpoch(ResumableBackup):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                raise Stop

    dataset = tiny_dataset()
    kwargs = dict(epochs=3, batch_size=8, seed=0, learning_rate=0.05, optimizer=config)
    keras.backend.clear_session()
    with pytest.raises(Stop):
        methods.get("ce").train(dataset, TINY_MODEL, resume=StopAfterSecondEpoch(backup_dir),
                                **kwargs)
    keras.backend.clear_session()
    backup = ResumableBackup(backup_dir)
    model, history = methods.get("ce").train(dataset, TINY_MODEL, resume=backup, **kwargs)
    assert history.epoch == [2]
    assert int(model.optimizer.iterations) == 6
    keras.backend.clear_session()
    reference, _ = methods.get("ce").train(dataset, TINY_MODEL, **kwargs)
    assert int(reference.optimizer.iterations) == 6
    assert float(model.optimizer.learning_rate) == pytest.approx(
        float(reference.optimizer.learning_rate))
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_two_stage_takes_the_stage1_optimizer():
    keras.backend.clear_session()
    method = methods.get("ce-crw", stage2_epochs=1)
    model, _ = method.train(tiny_dataset(), TINY_MODEL, epochs=2, batch_size=8,
                            optimizer={"optimizer": "sgd", "momentum": 0.7})
    opt = model.optimizer  # stage 1's (stage 2 compiles a separate head model)
    assert type(opt) is keras.optimizers.SGD and float(opt.momentum) == pytest.approx(0.7)
    # a constant schedule keeps the method's own warm-up + cosine
    assert type(opt._learning_rate).__name__ == "CosineDecay"
    assert math.isfinite(float(opt.iterations))
    keras.backend.clear_session()
    model, _ = method.train(tiny_dataset(), TINY_MODEL, epochs=2, batch_size=8,
                            optimizer={"optimizer": "sgd", "lr_schedule": "step"})
    assert isinstance(model.optimizer._learning_rate, StepSchedule)


def test_cli_compare_sgd_cosine(tmp_path, capsys):
    from kerasimb.cli.main import main

    output = tmp_path / "run"
    code = main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                 "--epochs", "2", "--seeds", "0", "--batch-size", "64", "--learning-rate",
                 "0.05", "--optimizer", "sgd", "--weight-decay", "1e-4", "--lr-schedule",
                 "cosine", "--lr-warmup-epochs", "1", "--lr-floor", "1e-4", "--output",
                 str(output), "--no-progress"])
    assert code == 0
    settings = json.loads((output / "metrics.json").read_text())["settings"]
    assert settings["optimizer"] == "SGD"
    assert settings["training"]["lr_schedule"] == "cosine"
    assert settings["training"]["weight_decay"] == 1e-4
    report = (output / "report.md").read_text()
    assert ("optimizer: SGD (learning rate 0.05, momentum 0.9, weight decay 0.0001; cosine "
            "schedule to 0.0001 after 1 warm-up epoch)") in report


def test_tuning_trials_take_the_configuration():
    keras_tuner = pytest.importorskip("keras_tuner")
    from kerasimb import tuning

    hm = tuning.ImbalanceHyperModel(tiny_dataset(), methods=["ce"], epochs=1, batch_size=8,
                                    width=4, widths=(4,), model_kwargs={"depth": 1},
                                    optimizer={"optimizer": "adamw", "lr_schedule": "cyclic"})
    assert hm.optimizer["optimizer"] == "adamw"
    keras.backend.clear_session()
    _, model, _ = hm.train(keras_tuner.HyperParameters())
    assert type(model.optimizer) is keras.optimizers.AdamW
    assert isinstance(model.optimizer._learning_rate, CyclicSchedule)


def test_mixed_precision_wraps_the_configured_optimizer():
    from kerasimb.utils import runtime

    keras.backend.clear_session()
    with runtime.precision_policy("mixed_float16"):
        model, _ = methods.get("ce").train(tiny_dataset(), TINY_MODEL, epochs=1, batch_size=8,
                                           optimizer={"optimizer": "sgd", "nesterov": True})
    assert type(model.optimizer.inner_optimizer) is keras.optimizers.SGD
    assert model.optimizer.inner_optimizer.nesterov
