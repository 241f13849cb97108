"""Training configuration as data: the optimizer and its learning-rate schedule.

A *training configuration* is a plain JSON-compatible dict (`training_config` fills in and
checks it) that `Method.train(optimizer=...)`, `runs.compare(optimizer=...)` and the
`--optimizer`/`--lr-schedule` flags share; `build_optimizer` turns it into a Keras optimizer for
a run of `epochs` epochs of `steps_per_epoch` steps. `None` means the library's historical
default, Adam at a constant learning rate.

The schedules are `keras.optimizers.schedules.LearningRateSchedule` subclasses registered for
serialization (`get_config` round-trips), functions of the optimizer's step counter
(`optimizer.iterations`), which a resumed run restores with the optimizer's weights so that the
schedule continues where it stopped. Every schedule starts with an optional linear warm-up:
step `s < warmup_steps` has rate `base_lr * (s + 1) / warmup_steps` (the first step is not
wasted at 0; step `warmup_steps - 1` reaches `base_lr`). After the warm-up:

- `"constant"`: `base_lr`.
- `"cosine"`: `floor + (base_lr - floor) * (1 + cos(pi * t)) / 2`, `t = (s - warmup) /
  (total - warmup)` clipped to `[0, 1]`: Zeng et al. (metric learning; paper 001: SGD,
  momentum 0.9, weight decay 5e-4, 5 warm-up epochs to 1e-3, cosine to 1e-6) and Cong et al.
  (AdUni; paper 003: 0.1 cosine-decayed to 0.001, no warm-up stated).
- `"step"`: `max(floor, base_lr * factor ** floor(s / step_size))` (steps counted from 0, the
  warm-up included): Chen et al. (perturbed inference; paper 002: SGD, momentum 0.9, weight
  decay 5e-4, x0.1 every 50 of 200 epochs, linear warm-up in the first epoch).
- `"cyclic"`: cosine annealing from `base_lr` to `floor`, restarted every `cycle_steps`
  (SGDR-style): Galdran et al. (Balanced-MixUp; paper 000: SGD, batch 8, rate 0.01
  "cyclically annealed towards 0"; the paper does not print the cycle length, so it is a
  setting here: by default 4 cycles per run).

Keras' `weight_decay` is decoupled (each step multiplies the weights by `1 - lr * wd`); for
SGD without momentum that equals PyTorch's L2 `weight_decay`, with momentum it is close but not
identical.

Example:

>>> config = training_config({"optimizer": "sgd", "lr_schedule": "cosine",
...                           "warmup_epochs": 1, "lr_floor": 1e-6})
>>> optimizer = build_optimizer(config, 0.01, epochs=4, steps_per_epoch=10)
>>> type(optimizer).__name__, float(optimizer.momentum)
('SGD', 0.9)
>>> describe_training(config, 0.01)
'SGD (learning rate 0.01, momentum 0.9; cosine schedule to 1e-06 after 1 warm-up epoch)'
"""

import math

import keras
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_float, check_int

__all__ = ["ConstantSchedule", "CosineSchedule", "CyclicSchedule", "OPTIMIZERS", "SCHEDULES",
           "StepSchedule", "build_optimizer", "build_schedule", "describe_training", "make_optimizer",
           "make_schedule", "training_config"]

OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULES = ("constant", "cosine", "step", "cyclic")
_CLASS_NAMES = {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW"}

# The keys of a training configuration and their defaults (= Adam at a constant rate).
DEFAULT_TRAINING = {
    "optimizer": "adam",
    "momentum": None,  # SGD only; None = 0.9
    "nesterov": False,  # SGD only
    "weight_decay": None,  # None = none for adam/sgd, Keras' 0.004 for adamw
    "lr_schedule": "constant",
    "warmup_epochs": 0,
    "lr_floor": 0.0,
    "step_epochs": None,  # "step": epochs between drops; None = a quarter of the run
    "step_factor": 0.1,  # "step": the drop factor
    "cycle_epochs": None,  # "cyclic": epochs per cycle; None = a quarter of the run
}


class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, base_lr, warmup_steps=0):
        self.base_lr = check_float(base_lr, "base_lr", minimum=0.0, min_inclusive=False)
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        if not self.warmup_steps:
            return self.after_warmup(step)
        warm = self.base_lr * (step + 1.0) / self.warmup_steps
        return ops.where(step < self.warmup_steps, warm, self.after_warmup(step))

    def after_warmup(self, step):
        raise NotImplementedError

    def get_config(self):
        return {"base_lr": self.base_lr, "warmup_steps": self.warmup_steps}


@kerasimb_export("kerasimb.methods.optimization.ConstantSchedule")
class ConstantSchedule(_Schedule):
    """`base_lr` after an optional linear warm-up of `warmup_steps` steps.

    Args:
        base_lr: float > 0.
        warmup_steps: int >= 0. Defaults to `0`.

    Example:

    >>> [round(float(ConstantSchedule(0.1, warmup_steps=2)(s)), 4) for s in range(3)]
    [0.05, 0.1, 0.1]
    """

    def after_warmup(self, step):
        return ops.full_like(step, self.base_lr)


@kerasimb_export("kerasimb.methods.optimization.CosineSchedule")
class CosineSchedule(_Schedule):
    """Linear warm-up, then cosine decay from `base_lr` to `floor` at `total_steps` (held there
    after), as in Zeng et al. (metric learning) and Cong et al. (AdUni).

    Args:
        base_lr: float > 0.
        total_steps: int >= 1, the run's steps.
        warmup_steps: int >= 0. Defaults to `0`.
        floor: float in `[0, base_lr]`. Defaults to `0.0`.

    Example:

    >>> s = CosineSchedule(1.0, total_steps=10, floor=0.0)
    >>> [round(float(s(i)), 3) for i in (0, 5, 10)]
    [1.0, 0.5, 0.0]
    """

    def __init__(self, base_lr, total_steps, warmup_steps=0, floor=0.0):
        super().__init__(base_lr, warmup_steps)
        self.total_steps = check_int(total_steps, "total_steps", minimum=1)
        self.floor = check_float(floor, "floor", minimum=0.0, maximum=self.base_lr)

    def after_warmup(self, step):
        span = max(self.total_steps - self.warmup_steps, 1)
        t = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        return self.floor + (self.base_lr - self.floor) * 0.5 * (1.0 + ops.cos(math.pi * t))

    def get_config(self):
        return {**super().get_config(), "total_steps": self.total_steps, "floor": self.floor}


@kerasimb_export("kerasimb.methods.optimization.StepSchedule")
class StepSchedule(_Schedule):
    """Linear warm-up, then `base_lr * factor ** floor(step / step_size)`, never below `floor`,
    as in Chen et al. (perturbed inference: x0.1 every 50 of 200 epochs).

    Args:
        base_lr: float > 0.
        step_size: int >= 1, steps between drops (counted from step 0).
        factor: float in `(0, 1]`. Defaults to `0.1`.
        warmup_steps: int >= 0. Defaults to `0`.
        floor: float >= 0. Defaults to `0.0`.

    Example:

    >>> s = StepSchedule(1.0, step_size=5, factor=0.1)
    >>> [round(float(s(i)), 3) for i in (0, 4, 5, 10)]
    [1.0, 1.0, 0.1, 0.01]
    """

    def __init__(self, base_lr, step_size, factor=0.1, warmup_steps=0, floor=0.0):
        super().__init__(base_lr, warmup_steps)
        self.step_size = check_int(step_size, "step_size", minimum=1)
        self.factor = check_float(factor, "factor", minimum=0.0, maximum=1.0,
                                  min_inclusive=False)
        self.floor = check_float(floor, "floor", minimum=0.0, maximum=self.base_lr)

    def after_warmup(self, step):
        drops = ops.floor(step / self.step_size)
        return ops.maximum(self.base_lr * ops.power(self.factor, drops), self.floor)

    def get_config(self):
        return {**super().get_config(), "step_size": self.step_size, "factor": self.factor,
                "floor": self.floor}


@kerasimb_export("kerasimb.methods.optimization.CyclicSchedule")
class CyclicSchedule(_Schedule):
    """Linear warm-up, then cosine annealing from `base_lr` to `floor` restarted every
    `cycle_steps` steps, as in Galdran et al. (Balanced-MixUp: "cyclically annealed towards 0";
    the cycle length is not printed in the paper).

    Args:
        base_lr: float > 0.
        cycle_steps: int >= 1.
        warmup_steps: int >= 0. Defaults to `0`.
        floor: float in `[0, base_lr]`. Defaults to `0.0`.

    Example:

    >>> s = CyclicSchedule(1.0, cycle_steps=4)
    >>> [round(float(s(i)), 3) for i in range(6)]
    [1.0, 0.854, 0.5, 0.146, 1.0, 0.854]
    """

    def __init__(self, base_lr, cycle_steps, warmup_steps=0, floor=0.0):
        super().__init__(base_lr, warmup_steps)
        self.cycle_steps = check_int(cycle_steps, "cycle_steps", minimum=1)
        self.floor = check_float(floor, "floor", minimum=0.0, maximum=self.base_lr)

    def after_warmup(self, step):
        within = ops.mod(ops.maximum(step - self.warmup_steps, 0.0), float(self.cycle_steps))
        t = within / self.cycle_steps
        return self.floor + (self.base_lr - self.floor) * 0.5 * (1.0 + ops.cos(math.pi * t))

    def get_config(self):
        return {**super().get_config(), "cycle_steps": self.cycle_steps, "floor": self.floor}


def _choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"Invalid value received for argument `{name}`. Expected one of "
                         f"{list(choices)}. Received: {name}={value!r}")
    return value


@kerasimb_export("kerasimb.methods.optimization.make_schedule", serializable=False)
def make_schedule(kind, base_lr, total_steps, warmup_steps=0, floor=0.0, step_size=None,
                  factor=0.1, cycle_steps=None):
    """Returns the learning-rate schedule `kind` (see the module docstring for the formulas).

    Args:
        kind: `"constant"`, `"cosine"`, `"step"` or `"cyclic"`.
        base_lr: float > 0, the rate after the warm-up.
        total_steps: int >= 1, the run's optimizer steps.
        warmup_steps: int >= 0, linear warm-up steps. Defaults to `0`.
        floor: float >= 0, the lowest rate (`"cosine"`, `"step"`, `"cyclic"`). Defaults to `0.0`.
        step_size: `"step"`: steps between drops; `None` = a quarter of `total_steps`.
        factor: `"step"`: the drop factor. Defaults to `0.1`.
        cycle_steps: `"cyclic"`: steps per cycle; `None` = a quarter of `total_steps`.

    Example:

    >>> type(make_schedule("cosine", 0.1, 100, warmup_steps=5, floor=1e-3)).__name__
    'CosineSchedule'
    """
    _choice(kind, "kind", SCHEDULES)
    total_steps = check_int(total_steps, "total_steps", minimum=1)
    quarter = max(total_steps // 4, 1)
    if kind == "constant":
        return ConstantSchedule(base_lr, warmup_steps)
    if kind == "cosine":
        return CosineSchedule(base_lr, total_steps, warmup_steps, floor)
    if kind == "step":
        return StepSchedule(base_lr, step_size or quarter, factor, warmup_steps, floor)
    return CyclicSchedule(base_lr, cycle_steps or quarter, warmup_steps, floor)


@kerasimb_export("kerasimb.methods.optimization.make_optimizer", serializable=False)
def make_optimizer(name="adam", learning_rate=1e-3, momentum=None, nesterov=False,
                   weight_decay=None, schedule=None):
    """Returns a Keras optimizer: `keras.optimizers.Adam`, `SGD` or `AdamW`.

    Args:
        name: `"adam"`, `"sgd"` or `"adamw"`. Defaults to `"adam"`.
        learning_rate: float > 0 (used when `schedule` is `None`). Defaults to `1e-3`.
        momentum: SGD momentum in `[0, 1)`; `None` = 0.9. Only for `"sgd"`.
        nesterov: bool, Nesterov momentum. Only for `"sgd"`. Defaults to `False`.
        weight_decay: float >= 0 (Keras' decoupled weight decay) or `None`: none for
            `"adam"`/`"sgd"`, Keras' default 0.004 for `"adamw"`.
        schedule: a `LearningRateSchedule` replacing `learning_rate`, or `None`.

    Example:

    >>> opt = make_optimizer("sgd", 0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    >>> type(opt).__name__, float(opt.momentum), opt.nesterov, opt.weight_decay
    ('SGD', 0.9, True, 0.0005)
    """
    _choice(name, "name", OPTIMIZERS)
    if name != "sgd" and (momentum is not None or nesterov):
        raise ValueError(
            "Invalid value received for argument `momentum`. Expected None and nesterov=False "
            f"for optimizer {name!r} (momentum is an SGD setting). Received: "
            f"momentum={momentum!r}, nesterov={nesterov!r}")
    rate = schedule if schedule is not None else check_float(
        learning_rate, "learning_rate", minimum=0.0, min_inclusive=False)
    decay = {} if weight_decay is None else {
        "weight_decay": check_float(weight_decay, "weight_decay", minimum=0.0)}
    if name == "sgd":
        momentum = 0.9 if momentum is None else check_float(
            momentum, "momentum", minimum=0.0, maximum=1.0, max_inclusive=False)
        return keras.optimizers.SGD(rate, momentum=momentum, nesterov=bool(nesterov), **decay)
    if name == "adamw":
        return keras.optimizers.AdamW(rate, **decay)
    return keras.optimizers.Adam(rate, **decay)


@kerasimb_export("kerasimb.methods.optimization.training_config", serializable=False)
def training_config(spec=None):
    """Checks a training configuration and fills in its defaults; `None` stays `None`.

    Args:
        spec: `None` (Adam, constant rate), an optimizer name (`"sgd"`) or a dict with some of
            the keys `optimizer`, `momentum`, `nesterov`, `weight_decay`, `lr_schedule`,
            `warmup_epochs`, `lr_floor`, `step_epochs`, `step_factor`, `cycle_epochs`.

    Returns:
        `None` when `spec` is the default (Adam at a constant rate, so that runs recorded before
        this setting existed keep their fingerprint), else the full dict.

    Raises:
        ValueError: an unknown key or a bad value.

    Example:

    >>> training_config("adam") is None
    True
    >>> training_config({"optimizer": "sgd", "weight_decay": 5e-4})["momentum"]
    0.9
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        spec = {"optimizer": spec}
    if not isinstance(spec, dict):
        raise TypeError("Invalid type received for argument `optimizer`. Expected None, an "
                        f"optimizer name or a dict. Received: optimizer={spec!r}")
    unknown = sorted(set(spec) - set(DEFAULT_TRAINING))
    if unknown:
        raise ValueError(f"Invalid value received for argument `optimizer`. Unknown keys "
                         f"{unknown}; expected some of {list(DEFAULT_TRAINING)}.")
    config = {**DEFAULT_TRAINING, **spec}
    _choice(config["optimizer"], "optimizer", OPTIMIZERS)
    _choice(config["lr_schedule"], "lr_schedule", SCHEDULES)
    config["warmup_epochs"] = check_int(config["warmup_epochs"], "warmup_epochs", minimum=0)
    config["lr_floor"] = check_float(config["lr_floor"], "lr_floor", minimum=0.0)
    config["step_factor"] = check_float(config["step_factor"], "step_factor", minimum=0.0,
                                        maximum=1.0, min_inclusive=False)
    for key in ("step_epochs", "cycle_epochs"):
        if config[key] is not None:
            config[key] = check_int(config[key], key, minimum=1)
    config["nesterov"] = bool(config["nesterov"])
    if config["optimizer"] == "sgd" and config["momentum"] is None:
        config["momentum"] = 0.9
    if config["momentum"] is not None:
        config["momentum"] = check_float(config["momentum"], "momentum", minimum=0.0,
                                         maximum=1.0, max_inclusive=False)
    if config["weight_decay"] is not None:
        config["weight_decay"] = check_float(config["weight_decay"], "weight_decay", minimum=0.0)
    make_optimizer(config["optimizer"], 1.0, config["momentum"], config["nesterov"],
                   config["weight_decay"])  # checks the combination now
    if config == DEFAULT_TRAINING:
        return None
    return config


@kerasimb_export("kerasimb.methods.optimization.build_optimizer", serializable=False)
def build_optimizer(config, learning_rate, epochs, steps_per_epoch):
    """The optimizer of a training configuration for a run of `epochs` x `steps_per_epoch`.

    Args:
        config: a `training_config` dict (or anything `training_config` accepts).
        learning_rate: float > 0, the base rate (after the warm-up).
        epochs: int >= 1.
        steps_per_epoch: int >= 1.

    Example:

    >>> opt = build_optimizer({"optimizer": "adamw", "weight_decay": 0.01}, 1e-3, 2, 5)
    >>> type(opt).__name__, opt.weight_decay
    ('AdamW', 0.01)
    """
    config = training_config(config) or dict(DEFAULT_TRAINING)
    schedule = build_schedule(config, learning_rate, epochs, steps_per_epoch)
    return make_optimizer(config["optimizer"], learning_rate, config["momentum"],
                          config["nesterov"], config["weight_decay"], schedule)


def build_schedule(config, learning_rate, epochs, steps_per_epoch):
    """The learning-rate schedule of a `training_config` dict for a run of `epochs` x
    `steps_per_epoch` steps, or `None` for a constant rate without warm-up."""
    config = training_config(config) or dict(DEFAULT_TRAINING)
    if config["lr_schedule"] == "constant" and not config["warmup_epochs"]:
        return None
    total = epochs * steps_per_epoch
    return make_schedule(
        config["lr_schedule"], learning_rate, total,
        warmup_steps=min(config["warmup_epochs"] * steps_per_epoch, total),
        floor=min(config["lr_floor"], learning_rate),
        step_size=(config["step_epochs"] or 0) * steps_per_epoch or None,
        factor=config["step_factor"],
        cycle_steps=(config["cycle_epochs"] or 0) * steps_per_epoch or None)


def optimizer_class_name(config):
    """The Keras optimizer class name of a `training_config` dict (`None`: `"Adam"`)."""
    return _CLASS_NAMES[(config or DEFAULT_TRAINING)["optimizer"]]


def _epochs(n):
    return f"{n} epoch" + ("" if n == 1 else "s")


@kerasimb_export("kerasimb.methods.optimization.describe_training", serializable=False)
def describe_training(config, learning_rate):
    """One line stating a training configuration, for reports.

    Example:

    >>> describe_training(None, 1e-3)
    'Adam (learning rate 0.001)'
    >>> describe_training({"optimizer": "sgd", "lr_schedule": "step", "step_epochs": 50,
    ...                    "weight_decay": 5e-4}, 0.01)
    'SGD (learning rate 0.01, momentum 0.9, weight decay 0.0005; step schedule x0.1 every 50 epochs)'
    """
    config = training_config(config) or dict(DEFAULT_TRAINING)
    parts = [f"learning rate {learning_rate:g}"]
    if config["momentum"] is not None:
        parts.append(f"momentum {config['momentum']:g}" + (" (Nesterov)" if config["nesterov"]
                                                           else ""))
    if config["weight_decay"] is not None:
        parts.append(f"weight decay {config['weight_decay']:g}")
    text = f"{_CLASS_NAMES[config['optimizer']]} ({', '.join(parts)}"
    kind = config["lr_schedule"]
    schedule = ""
    if kind == "cosine":
        schedule = f"cosine schedule to {config['lr_floor']:g}"
    elif kind == "step":
        every = (_epochs(config["step_epochs"]) if config["step_epochs"]
                 else "quarter of the run")
        schedule = f"step schedule x{config['step_factor']:g} every {every}"
    elif kind == "cyclic":
        every = (_epochs(config["cycle_epochs"]) if config["cycle_epochs"]
                 else "a quarter of the run")
        schedule = f"cyclic cosine schedule to {config['lr_floor']:g}, cycles of {every}"
    if kind in ("step",) and config["lr_floor"]:
        schedule += f", floor {config['lr_floor']:g}"
    if config["warmup_epochs"]:
        warm = f"{config['warmup_epochs']} warm-up epoch" + (
            "" if config["warmup_epochs"] == 1 else "s")
        schedule = f"{schedule} after {warm}" if schedule else f"constant after {warm}"
    return text + (f"; {schedule})" if schedule else ")")
