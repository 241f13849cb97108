"""`ImbalanceHyperModel`: Keras Tuner search over imbalance methods and their hyperparameters."""

import contextlib
import math
import warnings

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb import methods as methods_module
from kerasimb import models
from kerasimb.callbacks.freeze import check_freeze_backbone, freeze_callbacks
from kerasimb.data.augment import resolve_augment
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.methods.optimization import training_config
from kerasimb.metrics.report import SCALAR_METRICS, report
from kerasimb.utils import runtime
from kerasimb.utils.images import to_float_images
from kerasimb.utils.runtime import check_jit_compile
from kerasimb.utils.validation import check_choice, check_distinct, check_float, check_int

try:
    import keras_tuner

    _HyperModel = keras_tuner.HyperModel
except ImportError:  # pragma: no cover - keras-tuner is an install requirement
    keras_tuner = None

    class _HyperModel:
        def __init__(self, *args, **kwargs):
            raise ImportError(
                "kerasimb.tuning needs Keras Tuner: `pip install keras-tuner` (or `pip install "
                "kerasimb`, which requires it)."
            )


# The `metrics.report` keys the search may maximise: every scalar one (all larger-is-better).
OBJECTIVES = SCALAR_METRICS

METHOD = "method"
LEARNING_RATE = "learning_rate"
WIDTH = "width"



class _CopyWeights(keras.callbacks.Callback):
    """Loads the weights Hyperband restored into the built model into the model being trained."""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def on_train_begin(self, logs=None):
        try:
            self.model.set_weights(self.source.get_weights())
        except ValueError as e:  # a model whose weights do not line up: train from scratch
            warnings.warn(f"Hyperband warm start skipped ({e}); the trial trains from scratch.")


@kerasimb_export("kerasimb.tuning.ImbalanceHyperModel", serializable=False)
class ImbalanceHyperModel(_HyperModel):
    """A `keras_tuner.HyperModel` whose search space is the method and its hyperparameters.

    Hyperparameters (every one with a default, so a fresh `HyperParameters` gives the first
    method at its own defaults):

    - `"method"`: `hp.Choice` over `methods` (names; `"<name>+perturb"` allowed).
    - `"<method>.<param>"`: each method's own `search_space` (see
      `kerasimb.methods.search_space`: focal γ, class-balanced β, LDAM margin, Balanced-MixUp
      α, the two-stage metric-loss weight, the perturbation's ε and T, ...), declared inside
      `hp.conditional_scope("method", [<method>])`, so only the chosen method's are active.
      Methods registered later are searched with whatever `search_space` they declare (none:
      their defaults).
    - `"learning_rate"`: Adam learning rate, log-uniform in `learning_rates`, default
      `learning_rate`.
    - `"width"` (backbone `"small_cnn"` only): `SmallCNN` width, a choice of `widths`, default
      `width`.

    `build(hp)` returns the chosen method's model (`Method.build_model`, compiled by
    `Method.compile`), for Keras Tuner's bookkeeping (model size, checkpoints, Hyperband's
    warm starts, `get_best_models`). `fit(hp, model, ...)` trains through `Method.train` (the same
    code as `experiment.compare`: the method's tf.data pipeline, loss, callbacks, extra stages),
    then scores the trained model on the validation split through `Method.predict` and
    `metrics.report` (so a `+perturb` method is scored on perturbed validation images, with ε
    chosen on that split when `"auto"`; a post-hoc logit adjustment is included). It returns
    `{"val_<metric>": value}` for every scalar metric; the tuner's objective is
    `hypermodel.objective` (`val_<objective>`, maximised). Pass it to the tuner:
    `keras_tuner.RandomSearch(hm, objective=hm.objective, ...)`, or use `tuning.make_tuner`.

    With `keras_tuner.Hyperband` a continued trial starts from the weights of its previous
    round (copied into the freshly built model at the start of training) and trains the
    remaining `epochs - initial_epoch` epochs; schedules that depend on the epoch count (DRW,
    DRS, warm-up) see that shorter run.

    Args:
        dataset: `ImageDataset` (`train` is fitted, `val` scores trials; `test` is not used).
        methods: `None` (every registered method at construction time, `methods.names()`) or a
            list of method names. Defaults to `None`.
        backbone: str. `"small_cnn"` or a backbone name for `models.model_fn`.
            Defaults to `"small_cnn"`.
        objective: str, one of `OBJECTIVES`. Defaults to `"balanced_accuracy"`.
        epochs: int >= 1. Epochs per trial (Hyperband sets its own). Defaults to `10`.
        batch_size: int >= 1. Defaults to `32`.
        learning_rate: float > 0. Default of the learning-rate hyperparameter.
            Defaults to `1e-3`.
        learning_rates: `(low, high)` range searched, or `None` to fix `learning_rate`.
            Defaults to `(1e-4, 1e-2)`.
        width: int >= 1 or `None`. Default `SmallCNN` width; it must be one of `widths` when
            both are given. `None`: 32 if `widths` is `None` or holds 32, else the middle
            value of `widths`. Defaults to `None`.
        widths: sequence of ints searched for the width (exactly these), or `None` to fix
            `width`. Defaults to `(16, 32, 64)`.
        model_kwargs: dict of fixed arguments for `models.model_fn` (e.g. `{"depth": 2}`).
        seed: int. Seeds weights and batches of every trial. Defaults to `0`.
        verbose: `fit` verbosity when the tuner does not pass one. Defaults to `0`.
        jit_compile: `"auto"`, `True` or `False`: XLA for the training step (`Method.train`).
            The distribution strategy is the one in force when the search runs (`kerasimb
            tune --distribute` runs it inside `utils.run_context`).
            Defaults to `"auto"`.
        mixed_precision: `None` (the global dtype policy in force) or a policy name for
            `utils.resolve_precision`, set while each trial's model is built and trained (Keras
            Tuner's `clear_session` between trials resets the global policy, so it is re-set
            here). Defaults to `None`.
        name: str. The hypermodel's name. Defaults to `"imbalance_hypermodel"`.
        augment: `None` or an augmentation of the training images for every trial
            (`Method.train(augment=)`). Defaults to `None`.
        freeze_backbone: `None`, `True` or a number of epochs: every trial trains the head on
            the frozen pretrained backbone (`callbacks.FreezeBackbone`) throughout or for that
            many epochs, then fine-tunes every layer. Needs `model_kwargs["weights"]`.
            Defaults to `None`.
        optimizer: `None` (Adam at a constant rate) or a training configuration
            (`methods.optimization.training_config`: optimizer, momentum, weight decay,
            learning-rate schedule) for every trial's `Method.train`; the searched learning
            rate is its base rate. A Hyperband trial that continues an earlier one restarts
            the schedule. Defaults to `None`.

    Raises:
        ValueError: an unknown method name or objective, bad numbers.
        TypeError: `dataset` is not an `ImageDataset`.
        ImportError: Keras Tuner is not installed.

    Example:

    >>> import keras_tuner
    >>> from kerasimb import data, tuning
    >>> ds = data.load_dataset("digits-lt")
    >>> hm = tuning.ImbalanceHyperModel(ds, methods=["ce", "focal"], epochs=1)
    >>> hp = keras_tuner.HyperParameters()
    >>> hm.declare_hyperparameters(hp)
    'ce'
    >>> sorted(p.name for p in hp.space)
    ['focal.gamma', 'learning_rate', 'method', 'width']
    >>> hp.values  # focal.gamma is only active when method is "focal"
    {'method': 'ce', 'learning_rate': 0.001, 'width': 32}
    >>> hm.method_from_hp(hp).name
    'ce'
    >>> hm.objective.name
    'val_balanced_accuracy'
    """

    def __init__(self, dataset, methods=None, backbone="small_cnn", objective="balanced_accuracy",
                 epochs=10, batch_size=32, learning_rate=1e-3, learning_rates=(1e-4, 1e-2),
                 width=None, widths=(16, 32, 64), model_kwargs=None, seed=0, verbose=0,
                 name="imbalance_hypermodel", jit_compile="auto", mixed_precision=None,
                 augment=None, freeze_backbone=None, optimizer=None):
        super().__init__(name=name, tunable=True)
        if not isinstance(dataset, ImageDataset):
            raise TypeError(
                "Invalid type received for argument `dataset`. Expected an `ImageDataset` (e.g. "
                f"`data.load_dataset('digits-lt')`). Received: dataset={type(dataset).__name__}"
            )
        self.dataset = dataset
        names = methods_module.names() if methods is None else methods
        if isinstance(names, str):
            names = [names]
        names = list(names)
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError(
                "Invalid value received for argument `methods`. Expected `None` or a non-empty "
                f"list of method names. Received: methods={methods!r}"
            )
        check_distinct(names, "methods")
        self.templates = {n: methods_module.get(n) for n in names}  # raises for unknown names
        self.method_names = names
        self.backbone = backbone
        models.model_fn(backbone, **(model_kwargs or {}))  # checks the name and kwargs now
        self.model_kwargs = dict(model_kwargs or {})
        self.objective_metric = check_choice(objective, "objective", OBJECTIVES)
        self.epochs = check_int(epochs, "epochs", minimum=1)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0,
                                         min_inclusive=False)
        if learning_rates is not None:
            low, high = (check_float(v, "learning_rates", minimum=0.0, min_inclusive=False)
                         for v in learning_rates)
            if low > high:
                raise ValueError(
                    "Invalid value received for argument `learning_rates`. Expected (low, high) "
                    f"with low <= high. Received: learning_rates={tuple(learning_rates)}"
                )
            learning_rates = (min(low, self.learning_rate), max(high, self.learning_rate))
        self.learning_rates = learning_rates
        if widths is not None:
            if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
                raise TypeError("Invalid type received for argument `widths`. Expected a "
                                f"sequence of ints or None. Received: widths={widths!r}")
            widths = sorted({check_int(w, "widths", minimum=1) for w in widths})
            if not widths:
                raise ValueError("Invalid value received for argument `widths`. Expected at "
                                 "least one width, or None. Received: widths=[]")
        if width is None:
            width = 32 if widths is None or 32 in widths else widths[len(widths) // 2]
        self.width = check_int(width, "width", minimum=1)
        if widths is not None and self.width not in widths:
            raise ValueError(
                f"Invalid value received for argument `width`. Expected one of the searched "
                f"widths {widths} (the default must be a choice). Received: width={self.width}"
            )
        self.widths = widths
        self.seed = check_int(seed, "seed", minimum=0)
        self.verbose = verbose
        self.jit_compile = check_jit_compile(jit_compile)
        self.mixed_precision = (None if mixed_precision is None else
                                runtime.resolve_precision(mixed_precision, "mixed_precision"))
        if augment is not None:
            resolve_augment(augment)  # checks the value now
        self.augment = augment
        self.optimizer = training_config(optimizer)
        self.freeze_backbone = check_freeze_backbone(freeze_backbone, self.epochs)
        if self.freeze_backbone is not None and not (self.model_kwargs or {}).get("weights"):
            raise ValueError(
                "Invalid value received for argument `freeze_backbone`. Expected None without "
                "pretrained weights (`model_kwargs={'weights': ...}`): a frozen randomly "
                f"initialised backbone learns nothing. Received: freeze_backbone={freeze_backbone!r}")

    # --- Search space --------------------------------------------------------------------------

    @property
    def objective(self):
        """The tuner objective: `keras_tuner.Objective("val_<objective>", "max")`."""
        return keras_tuner.Objective(f"val_{self.objective_metric}", direction="max")

    @property
    def tunes_width(self):
        return self.backbone == "small_cnn" and "width" not in self.model_kwargs

    def declare_hyperparameters(self, hp):
        """Declares the whole space on `hp` (every method's, each in its conditional scope).

        Returns the method name `hp` selects.
        """
        method = hp.Choice(METHOD, self.method_names, default=self.method_names[0])
        for name, template in self.templates.items():
            with hp.conditional_scope(METHOD, [name]):
                template.hyperparameters(hp, prefix=name)
        if self.learning_rates is not None:
            hp.Float(LEARNING_RATE, *self.learning_rates, sampling="log",
                     default=self.learning_rate)
        if self.tunes_width and self.widths is not None:
            hp.Choice(WIDTH, self.widths, default=self.width)
        return method

    def method_from_hp(self, hp):
        """Returns the `Method` instance (with its drawn hyperparameters) that `hp` selects."""
        name = self.declare_hyperparameters(hp)
        template = self.templates[name]
        with hp.conditional_scope(METHOD, [name]):
            params = template.hyperparameters(hp, prefix=name)
        return methods_module.get(name, **params)

    def learning_rate_from_hp(self, hp):
        """The learning rate `hp` selects (`learning_rate` when it is not searched)."""
        self.declare_hyperparameters(hp)
        return hp.get(LEARNING_RATE) if self.learning_rates is not None else self.learning_rate

    def model_fn_from_hp(self, hp):
        """Returns the `models.model_fn` that `hp` selects (the searched width for SmallCNN)."""
        self.declare_hyperparameters(hp)
        kwargs = dict(self.model_kwargs)
        if self.tunes_width:
            kwargs["width"] = hp.get(WIDTH) if self.widths is not None else self.width
        return models.model_fn(self.backbone, **kwargs)

    # --- keras_tuner.HyperModel ----------------------------------------------------------------

    def build(self, hp):
        """Returns the selected method's model (built and compiled) for the tuner's bookkeeping."""
        method = self.method_from_hp(hp)
        with self._policy():
            model = method.build_model(self.model_fn_from_hp(hp), self.dataset)
            method.compile(model, self.dataset, self.learning_rate_from_hp(hp),
                           jit_compile=self.jit_compile)
        return model

    def _policy(self):
        if self.mixed_precision is None:
            return contextlib.nullcontext()
        return runtime.precision_policy(self.mixed_precision)

    def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, verbose=None,
            **kwargs):
        """Trains the method `hp` selects and scores it on the validation split.

        Positional arguments and unknown keyword arguments from `tuner.search(...)` are ignored
        (the data is the hypermodel's `dataset`); `epochs` (default: the hypermodel's),
        `initial_epoch` (Hyperband), `callbacks` and `verbose` are used.

        Returns:
            dict `{"val_<metric>": float}` for every scalar `metrics.report` key.
        """
        epochs = self.epochs if epochs is None else check_int(epochs, "epochs", minimum=1)
        callbacks = list(callbacks or [])
        if initial_epoch and "tuner/trial_id" in hp.values:  # Hyperband: continue a trial
            callbacks.insert(0, _CopyWeights(model))
            epochs = max(1, epochs - int(initial_epoch))
        method, trained, _ = self.train(hp, epochs=epochs, callbacks=callbacks,
                                        verbose=self.verbose if verbose is None else verbose)
        scores = self.evaluate(method, trained, split="val")
        return {f"val_{k}": v for k, v in scores.items()}

    # --- Shared by fit and the final retraining ------------------------------------------------

    def train(self, hp, epochs=None, seed=None, callbacks=(), verbose=0):
        """Trains the configuration `hp` through `Method.train`; returns `(method, model, history)`.

        Args:
            hp: `keras_tuner.HyperParameters` (e.g. `tuner.get_best_hyperparameters()[0]`).
            epochs: int or `None` (the hypermodel's `epochs`).
            seed: int or `None` (the hypermodel's `seed`).
            callbacks: extra Keras callbacks.
            verbose: `fit` verbosity.
        """
        method = self.method_from_hp(hp)
        with self._policy():
            model, history = method.train(
                self.dataset,
                self.model_fn_from_hp(hp),
                epochs=self.epochs if epochs is None else epochs,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate_from_hp(hp),
                seed=self.seed if seed is None else seed,
                callbacks=[*freeze_callbacks(self.freeze_backbone), *callbacks],
                verbose=verbose,
                jit_compile=self.jit_compile,
                # (a method with its own augmented views trains on those, as in `runs.compare`)
                **({} if self.augment is None or method.own_views
                   else {"augment": self.augment}),
                **({} if self.optimizer is None else {"optimizer": self.optimizer}),
            )
        return method, model, history

    def report(self, method, model, split="val"):
        """The full `metrics.report` of `method.predict(model, ...)` on a split ("val" or
        "test")."""
        check_choice(split, "split", ("val", "test"))
        x, y = getattr(self.dataset, split)
        probabilities = method.predict(model, to_float_images(x))
        return report(y, probabilities, class_names=self.dataset.class_names,
                      class_counts=self.dataset.class_counts)

    def evaluate(self, method, model, split="val"):
        """Scores `method.predict(model, ...)` on a split; returns the scalar report values.

        Undefined values (NaN, e.g. an AUC with a class missing) are returned as `0.0` for the
        objective, so that a trial is never lost to a NaN; the others are dropped.
        """
        scores = {}
        for key, value in self.report(method, model, split).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = float(value)
                if math.isfinite(value):
                    scores[key] = value
        scores.setdefault(self.objective_metric, 0.0)
        return scores
