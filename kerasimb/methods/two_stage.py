"""Metric-learning two-stage training (Zeng et al., 2022) as named methods.

Stage 1 trains `models.TwoStageClassifier` (the features of the model `model_fn` builds, with
its own linear head) with cross-entropy plus λ · a metric-learning loss, under a learning rate
that warms up linearly for `warmup_epochs` epochs and then follows a cosine decay (as in the
paper); stage 2 freezes the features and fine-tunes the head on the training split with class
re-weighting (cRW) or class-balanced re-sampling (cRS) for `stage2_epochs` epochs
(`TwoStageClassifier.retrain_classifier`).

| name | stage 1 | stage 2 |
|---|---|---|
| `ce-crw` / `ce-crs` | cross-entropy | cRW / cRS (the decoupled baselines) |
| `center-crw` / `center-crs` | CE + 0.001 · center loss | cRW / cRS |
| `triplet-crw` / `triplet-crs` | CE + 0.001 · triplet loss (margin 50, batch-hard) | cRW / cRS |
| `supcon-crw` / `supcon-crs` | CE + 1.0 · SupCon (T = 0.05, 3-layer projection) | cRW / cRS |
| `focal-crw`, `cb-focal-crw`, `mixup-crw`, `cutmix-crw` | the one-stage baseline's batches and loss | cRW |
| `ldam-crw` | LDAM (margins on a cosine head, logits 30 · cosine) | cRW |

Stage 2 trains the head for `stage2_epochs` epochs with Adam, its learning rate cosine-decayed
from `stage2_learning_rate` (default: the run's) to 0, unless `stage2_optimizer` says otherwise;
`stage2_optimizer="paper"` is Zeng et al.'s protocol (`PAPER_STAGE2`: SGD with momentum 0.9 and
weight decay 0.0005, from 0.1 cosine-decayed to 1e-6), which `recipes.metric_learning` uses.

Every method takes the same parameters (`metric_loss`, `metric_weight`, `stage2`, ...), so the
paper's ablation rows are parameter changes: `methods.get("ce-crw", stage2=None)` is plain CE
(one stage), `methods.get("supcon-crw", stage2=None)` is CE+SC, and
`methods.get("supcon-crw", ce_weight=0.0)` is SC → cRW.

Example:

>>> from kerasimb import methods
>>> methods.get("center-crw").params["metric_loss"]
'center'
>>> methods.get("supcon-crs").params["stage2"]
'resample'
>>> methods.get("ce-crw", stage2_optimizer="paper").stage2_learning_rate(1e-3)
0.1
"""

import keras

from kerasimb.data.pipeline import classification_dataset
from kerasimb.methods import losses as _losses  # noqa: F401  (registers "focal" first)
from kerasimb.methods import registry
from kerasimb.methods import sampling as _sampling  # noqa: F401  (registers "mixup", "cutmix")
from kerasimb.data.pipeline import steps_per_epoch
from kerasimb.losses.ldam import LDAMLoss
from kerasimb.methods.losses import LDAM
from kerasimb.methods.optimization import (DEFAULT_TRAINING, build_optimizer, build_schedule,
                                           make_optimizer, training_config)
from kerasimb.methods.registry import Method, register
from kerasimb.models.heads import feature_extractor
from kerasimb.models.two_stage import DEFAULT_METRIC_WEIGHTS, METRIC_LOSSES, TwoStageClassifier
from kerasimb.utils.runtime import check_jit_compile
from kerasimb.utils.validation import check_choice, check_float, check_int


def warmup_cosine_schedule(learning_rate, total_steps, warmup_steps):
    """Linear warm-up from 0 to `learning_rate` over `warmup_steps`, then cosine decay to 0.

    Args:
        learning_rate: float > 0. The peak learning rate.
        total_steps: int >= 1. Steps of the whole training.
        warmup_steps: int in [0, total_steps).

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.

    Example:

    >>> schedule = warmup_cosine_schedule(0.1, total_steps=10, warmup_steps=2)
    >>> [round(float(schedule(s)), 3) for s in (0, 1, 2, 6, 10)]
    [0.0, 0.05, 0.1, 0.05, 0.0]
    """
    learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0, min_inclusive=False)
    total_steps = check_int(total_steps, "total_steps", minimum=1)
    warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0, maximum=total_steps - 1)
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - warmup_steps, warmup_target=learning_rate, warmup_steps=warmup_steps
    )


# Zeng et al.'s stage 2 (§3.1): "only the classifier head was fine-tuned for 10 epochs, with the
# learning rate initialized as 0.1 and then decayed to 1e-6" by cosine annealing. The paper
# states SGD's momentum (0.9) and weight decay (0.0005) for stage 1; stage 2 keeps them here.
PAPER_STAGE2 = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4,
                "lr_schedule": "cosine", "lr_floor": 1e-6}
PAPER_STAGE2_LEARNING_RATE = 0.1
PAPER_STAGE2_EPOCHS = 10


def _check_stage2_optimizer(spec):
    """`None`, `"paper"` or a checked, complete training configuration (a dict)."""
    if spec is None or spec == "paper":
        return spec
    try:
        return training_config(spec) or dict(DEFAULT_TRAINING)
    except (TypeError, ValueError) as error:
        raise ValueError(
            "Invalid value received for argument `stage2_optimizer`. Expected None, 'paper', "
            f"an optimizer name or a training configuration ({error}). Received: "
            f"stage2_optimizer={spec!r}") from None


def _check_stage1_method(name):
    """Returns `name` if it is a registered method with the default model and prediction, or
    one of the LDAM methods (their cosine head is built by `TwoStageMethod`)."""
    method = registry.get(name) if isinstance(name, str) and name in registry.names() else None
    if isinstance(method, LDAM):
        return name
    if method is None or isinstance(method, TwoStageMethod) or (
        type(method).build_model is not Method.build_model
        or type(method).predict is not Method.predict
        or type(method).train is not Method.train
    ):
        raise ValueError(
            "Invalid value received for argument `stage1_method`. Expected a registered "
            "one-stage method that keeps the default model and prediction (e.g. 'ce', 'focal', "
            f"'mixup', 'cutmix') or 'ldam' / 'ldam-drw'. Received: stage1_method={name!r}"
        )
    return name


def penultimate_features(model):
    """`models.feature_extractor(model)` without a trailing Dropout: the pooled features."""
    features = feature_extractor(model)
    last = features.layers[-1]
    if isinstance(last, keras.layers.Dropout):
        features = keras.Model(features.inputs, last.input, name=features.name)
    return features


class TwoStageMethod(Method):
    """Base of the two-stage methods: stage 1 CE + λ·L_M, stage 2 cRW or cRS on the head.

    Params:
        metric_loss: `"center"`, `"triplet"`, `"supcon"` or `None`.
        metric_weight: float >= 0 or `None` (Zeng et al.'s λ: 0.001 center / triplet, 1.0
            supcon).
        ce_weight: float >= 0. Cross-entropy weight in stage 1. Defaults to `1.0`.
        stage2: `"reweight"` (cRW), `"resample"` (cRS) or `None` (no stage 2).
        stage2_epochs: int >= 1. Defaults to `10`.
        stage2_learning_rate: float > 0 or `None`: the run's learning rate, or 0.1 with
            `stage2_optimizer="paper"`. Defaults to `None`.
        stage2_optimizer: `None` (Adam, cosine decay to 0), `"paper"` (`PAPER_STAGE2`: Zeng et
            al.'s SGD, cosine decay to 1e-6) or a training configuration
            (`methods.optimization.training_config`: an optimizer name or a dict) whose
            schedule runs over the stage-2 steps. Defaults to `None`. At `None` the key is left
            out of `params`, so that run folders recorded before it existed keep resuming (a
            run's fingerprint holds its method's params).
        weighting: class weights of cRW: `"inverse"`, `"sqrt_inverse"` or `"effective"`.
            Defaults to `"inverse"`.
        warmup_epochs: int >= 0. Linear warm-up epochs of stage 1, at most half the epochs.
            Defaults to `5` (the paper).
        center_update: `"wen"` or `"gradient"` (see `TwoStageClassifier`). Defaults to `"wen"`.
        triplet_mining: `"batch_hard"` or `"batch_all"`. Defaults to `"batch_hard"`.
        temperature: float > 0. SupCon temperature. Defaults to `0.05`.
        stage1_method: str. A registered one-stage method whose batches, loss and callbacks
            stage 1 uses instead of instance sampling + cross-entropy (e.g. `"focal"`,
            `"mixup"`, `"cutmix"`); it must use the default model and prediction (so not the
            LDAM methods, whose head is a cosine classifier). With soft (mixed) labels the
            metric loss takes the arg-max class. `"ldam"` or `"ldam-drw"` (its deferred
            re-weighting callback too) train a cosine head whose logits are `scale` · cosine
            with LDAM's margins scaled alike (the same loss as `ldam`), and stage 2 fine-tunes
            that head. Defaults to `"ce"`.
    """

    reference = "Zeng et al., arXiv:2207.06975 (2022)"
    defaults = {
        "metric_loss": None,
        "metric_weight": None,
        "ce_weight": 1.0,
        "stage2": "reweight",
        "stage2_epochs": 10,
        "stage2_learning_rate": None,
        "stage2_optimizer": None,
        "weighting": "inverse",
        "warmup_epochs": 5,
        "center_update": "wen",
        "triplet_mining": "batch_hard",
        "temperature": 0.05,
        "stage1_method": "ce",
    }

    def validate_params(self, params):
        check_choice(params["metric_loss"], "metric_loss", (*METRIC_LOSSES, None))
        if params["metric_weight"] is not None:
            params["metric_weight"] = check_float(params["metric_weight"], "metric_weight",
                                                  minimum=0.0)
        params["ce_weight"] = check_float(params["ce_weight"], "ce_weight", minimum=0.0)
        check_choice(params["stage2"], "stage2", ("reweight", "resample", None))
        params["stage2_epochs"] = check_int(params["stage2_epochs"], "stage2_epochs", minimum=1)
        if params["stage2_learning_rate"] is not None:
            params["stage2_learning_rate"] = check_float(
                params["stage2_learning_rate"], "stage2_learning_rate", minimum=0.0,
                min_inclusive=False)
        check_choice(params["weighting"], "weighting", ("inverse", "sqrt_inverse", "effective"))
        params["warmup_epochs"] = check_int(params["warmup_epochs"], "warmup_epochs", minimum=0)
        check_choice(params["center_update"], "center_update", ("wen", "gradient"))
        check_choice(params["triplet_mining"], "triplet_mining", ("batch_hard", "batch_all"))
        params["temperature"] = check_float(params["temperature"], "temperature", minimum=0.0,
                                            min_inclusive=False)
        params["stage1_method"] = _check_stage1_method(params["stage1_method"])
        params["stage2_optimizer"] = _check_stage2_optimizer(params.get("stage2_optimizer"))
        if params["stage2_optimizer"] is None:  # see the docstring: fingerprints stay as before
            params.pop("stage2_optimizer")
        if params["ce_weight"] == 0 and params["stage2"] is None:
            raise ValueError(
                "Invalid value received for argument `stage2`. Expected a stage 2 when "
                "ce_weight=0 (the head is only trained in stage 2). Received: stage2=None"
            )
        return params

    @property
    def metric_weight(self):
        """λ: `params["metric_weight"]`, or the paper's default for the metric loss."""
        weight = self.params["metric_weight"]
        return DEFAULT_METRIC_WEIGHTS.get(self.params["metric_loss"], 0.0) if weight is None else weight

    def stage1(self):
        """The stage-1 method (`params["stage1_method"]`), a `Method` instance."""
        return registry.get(self.params["stage1_method"])

    def stage1_loss(self, dataset):
        """Stage 1's loss: the stage-1 method's, except LDAM's on the cosine head, whose logits
        are already scaled: margins × scale, scale 1 (softmax(s·cos − s·Δ_y), the same loss)."""
        stage1 = self.stage1()
        if isinstance(stage1, LDAM):
            scale = stage1.params["scale"]
            return LDAMLoss(dataset.class_counts, max_margin=stage1.params["max_margin"] * scale,
                            scale=1.0)
        return stage1.loss(dataset)

    def stage2_learning_rate(self, learning_rate):
        """Stage 2's (initial) learning rate for a run at `learning_rate`."""
        rate = self.params["stage2_learning_rate"]
        if rate is None and self.params.get("stage2_optimizer") == "paper":
            return PAPER_STAGE2_LEARNING_RATE
        return rate or learning_rate

    def stage2_optimizer(self, learning_rate, num_examples, batch_size):
        """Stage 2's optimizer for a run at `learning_rate` on `num_examples` training images,
        or `None` (`retrain_classifier`'s Adam with cosine decay to 0)."""
        spec = self.params.get("stage2_optimizer")
        if spec is None:
            return None
        config = PAPER_STAGE2 if spec == "paper" else spec
        return build_optimizer(config, self.stage2_learning_rate(learning_rate),
                               self.params["stage2_epochs"],
                               steps_per_epoch(num_examples, batch_size))

    def build_model(self, model_fn, dataset):
        """`TwoStageClassifier` on the pooled features of `model_fn(input_shape, num_classes)`
        (with a cosine head for an LDAM stage 1)."""
        p = self.params
        backbone = penultimate_features(model_fn(dataset.image_shape, dataset.num_classes))
        stage1 = self.stage1()
        head = {"head": "cosine", "head_scale": stage1.params["scale"]} if isinstance(
            stage1, LDAM) else {}
        return TwoStageClassifier(
            backbone, dataset.num_classes, metric_loss=p["metric_loss"],
            metric_weight=self.metric_weight, ce_weight=p["ce_weight"],
            center_update=p["center_update"], triplet_mining=p["triplet_mining"],
            temperature=p["temperature"], **head,
        )

    def train(self, dataset, model_fn, epochs=10, batch_size=32, learning_rate=1e-3, seed=0,
              callbacks=(), verbose=0, jit_compile="auto", resume=None, augment=None,
              optimizer=None):
        """Stage 1 (`fit` with `callbacks`), then stage 2 on `dataset.train`.

        Returns `(model, history)`: the stage-1 `History`, with the stage-2 logs added under
        `stage2_<name>` keys (e.g. `stage2_loss`, `stage2_val_accuracy`).

        `optimizer` (see `Method.train`) sets stage 1's optimizer; its learning-rate schedule
        replaces the method's own warm-up + cosine unless it is `"constant"` without warm-up
        (then the method's own schedule stays, with the configuration's optimizer). Stage 2
        keeps its own protocol (`stage2_optimizer`, `stage2_learning_rate`).
        """
        epochs = check_int(epochs, "epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        keras.utils.set_random_seed(seed)
        model = self.build_model(model_fn, dataset)
        stage1 = self.stage1()
        train_ds, steps = stage1.train_dataset(dataset, batch_size, seed, augment=augment)
        warmup = min(self.params["warmup_epochs"], epochs // 2) * steps
        config = training_config(optimizer) or dict(DEFAULT_TRAINING)
        schedule = build_schedule(config, learning_rate, epochs, steps) or \
            warmup_cosine_schedule(learning_rate, epochs * steps, warmup)
        model.compile(
            optimizer=make_optimizer(config["optimizer"], learning_rate, config["momentum"],
                                     config["nesterov"], config["weight_decay"], schedule),
            loss=self.stage1_loss(dataset),
            metrics=["accuracy"],
            jit_compile=check_jit_compile(jit_compile),
        )
        all_callbacks = [*stage1.callbacks(dataset, epochs), *self.callbacks(dataset, epochs),
                         *callbacks]
        if resume is not None:  # stage 1 continues where the backup stopped (a completed
            # stage 1 is restored, not retrained), on the batches an uninterrupted run sees
            train_ds = resume.prepare(model, train_ds, steps, all_callbacks, dataset.image_shape)
            all_callbacks.append(resume)
        x_val, y_val = dataset.val
        val_ds = classification_dataset(x_val, y_val, dataset.num_classes, 256, shuffle=False)
        history = model.fit(
            train_ds, epochs=epochs, steps_per_epoch=steps, validation_data=val_ds,
            callbacks=all_callbacks,
            verbose=verbose,
            shuffle=False,
        )
        if self.params["stage2"] is not None:
            x, y = dataset.train
            stage2 = model.retrain_classifier(
                x, y, method=self.params["stage2"], epochs=self.params["stage2_epochs"],
                batch_size=batch_size, learning_rate=self.stage2_learning_rate(learning_rate),
                weighting=self.params["weighting"], validation_data=dataset.val, seed=seed,
                verbose=verbose, optimizer=self.stage2_optimizer(learning_rate, len(y), batch_size),
            )
            history.history.update({f"stage2_{k}": list(v) for k, v in stage2.history.items()})
        return model, history


def _two_stage(name, metric_loss, stage2, description):
    cls = type(
        "".join(part.capitalize() for part in name.split("-")),
        (TwoStageMethod,),
        {
            "__doc__": f"{description} (Zeng et al., 2022). See `TwoStageMethod` for the params.",
            "description": description,
            "defaults": {**TwoStageMethod.defaults, "metric_loss": metric_loss, "stage2": stage2},
            "search_space": {} if metric_loss is None else {"metric_weight": {
                "type": "float", "sampling": "log", "min": 1e-4, "max": 10.0,
                "default": DEFAULT_METRIC_WEIGHTS[metric_loss]}},
            "__module__": __name__,
        },
    )
    return register(name)(cls)


_STAGE1 = {
    None: "CE",
    "center": "CE + 0.001·center loss",
    "triplet": "CE + 0.001·triplet loss",
    "supcon": "CE + SupCon",
}
_STAGE2 = {"reweight": "cRW (class re-weighting)", "resample": "cRS (class-balanced re-sampling)"}

for _base in ("focal", "cb-focal", "mixup", "cutmix", "ldam"):
    if _base in registry.names():  # the two-stage versions of the baselines that exist
        _cls = _two_stage(f"{_base}-crw", None, "reweight",
                          f"two-stage: {_base} (its own batches and loss), then head-only cRW")
        _cls.defaults = {**_cls.defaults, "stage1_method": _base}

for _loss, _prefix in ((None, "ce"), ("center", "center"), ("triplet", "triplet"),
                       ("supcon", "supcon")):
    for _stage2, _suffix in (("reweight", "crw"), ("resample", "crs")):
        _two_stage(f"{_prefix}-{_suffix}", _loss, _stage2,
                   f"two-stage: {_STAGE1[_loss]}, then head-only {_STAGE2[_stage2]}")
