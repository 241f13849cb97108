"""The registry of named training methods.

A *method* bundles everything that distinguishes one way of training on imbalanced data from
another: how training batches are drawn, the loss, the model head, the callbacks, the extra
arguments to `fit` and how predictions are made. `experiment.compare` and the tuner run every
method through the same `Method.train` / `Method.predict` calls, so that a new paper's method is
one subclass and one `@register` line away from every comparison.

Methods live in the `Registry` `METHODS` (one canonical name per method, aliases are other
names for the same class); modifiers such as `"+perturb"` (`"ce+perturb"`: any method, predicted
on perturbed inputs) live in `MODIFIERS`, as factories `(base_name, **params) -> Method`.

Example:

>>> from kerasimb import methods
>>> "ce" in methods.names()
True
>>> methods.get("reweight").params
{'weighting': 'inverse', 'beta': 0.9999}
>>> methods.METHODS.aliases("aduni"), methods.MODIFIERS.names()
(['aduc'], ['perturb'])
"""

import copy

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.data.pipeline import classification_dataset, steps_per_epoch
from kerasimb.inference.model import InferenceModel
from kerasimb.methods.optimization import (build_optimizer, build_schedule,
                                           training_config)
from kerasimb.methods.search_space import hyperparameters
from kerasimb.registry import Registry
from kerasimb.utils.images import to_float_images
from kerasimb.utils.runtime import check_jit_compile
from kerasimb.utils.validation import check_int

METHODS = Registry("method")  # name -> `Method` subclass
MODIFIERS = Registry("modifier")  # "perturb" -> factory(base_name, **params), for "ce+perturb"


@kerasimb_export("kerasimb.methods.Method", serializable=False)
class Method:
    """Base class of training methods: instance sampling, cross-entropy, a linear head.

    Subclasses override only the hooks they change:

    - `train_dataset(dataset, batch_size, seed, augment=None)` -> `(tf.data.Dataset,
      steps_per_epoch)`; `augment` (see `train`) is applied to the images before any mixing.
    - `build_model(model_fn, dataset)` -> a `keras.Model` that outputs logits.
    - `loss(dataset)` -> a Keras loss taking one-hot (or soft) targets and logits.
    - `callbacks(dataset, epochs)` -> list of Keras callbacks.
    - `fit_kwargs(dataset)` -> extra keyword arguments for `model.fit` (e.g. `class_weight`).
    - `predict(model, x, batch_size)` -> class probabilities `(N, C)`.
    - `train(...)` runs them all; override it for methods with several stages.

    A method that builds its own augmented views of each image (`own_views = True`: AdUni and
    PaCo's two views) refuses `train(augment=)`; `runs.compare(augment=)` trains it on its own
    views and the other methods on the augmented images.

    Hyperparameters are the keys of the class attribute `defaults`; an instance holds its values
    in `params` (validated by `validate_params`). `hyperparameters(hp)` declares the ones in the
    class attribute `search_space` (`{param: spec}`, see `kerasimb.methods.search_space`) for
    Keras Tuner, with the method's values as defaults.

    Args:
        **params: values overriding `defaults`. Unknown names raise `ValueError`.
    """

    name = None
    description = ""
    reference = ""
    defaults = {}
    search_space = {}  # {param: spec} for Keras Tuner; see kerasimb.methods.search_space
    own_views = False  # True: trains on views it augments itself (refuses `augment`)

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"Invalid argument received for method `{self.name}`: {unknown}. Expected "
                f"parameters: {sorted(self.defaults) or 'none'}. Received: {params}"
            )
        self.params = self.validate_params({**copy.deepcopy(self.defaults), **params})

    def validate_params(self, params):
        """Checks hyperparameter values; returns them (normalised). Override to add checks."""
        return params

    def hyperparameters(self, hp, prefix=None):
        """Declares `search_space` on a `keras_tuner.HyperParameters`; returns the params drawn.

        Names are `"<prefix>.<param>"` (prefix: the method's name); defaults are `self.params`,
        so a fresh `hp` returns `self.params` unchanged. See `kerasimb.methods.search_space`.
        """
        return hyperparameters(self, hp, prefix)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # --- Hooks -------------------------------------------------------------------------------

    def train_dataset(self, dataset, batch_size, seed, augment=None):
        """Returns `(tf.data.Dataset, steps_per_epoch)` of training batches (one-hot labels)."""
        x, y = dataset.train
        ds = classification_dataset(x, y, dataset.num_classes, batch_size, shuffle=True, seed=seed,
                                    **({} if augment is None else {"augment": augment}))
        return ds, steps_per_epoch(len(y), batch_size)

    def build_model(self, model_fn, dataset):
        """Returns the model to train: `model_fn(input_shape, num_classes)` (logits out)."""
        return model_fn(dataset.image_shape, dataset.num_classes)

    def loss(self, dataset):
        """Returns the training loss; targets are one-hot or soft, predictions logits."""
        return keras.losses.CategoricalCrossentropy(from_logits=True)

    def callbacks(self, dataset, epochs):
        """Returns the method's own callbacks (the caller may add more)."""
        return []

    def fit_kwargs(self, dataset):
        """Returns extra keyword arguments for `model.fit`."""
        return {}

    def compile(self, model, dataset, learning_rate, jit_compile="auto"):
        """Compiles `model` with `self.loss(dataset)` and accuracy, and with `learning_rate`
        when it is a built `keras.optimizers.Optimizer` (`Method.train(optimizer=...)`), else
        Adam at `learning_rate` (a float or a schedule)."""
        model.compile(
            optimizer=(learning_rate if isinstance(learning_rate, keras.optimizers.Optimizer)
                       else keras.optimizers.Adam(learning_rate)),
            loss=self.loss(dataset),
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )

    def predict(self, model, x, batch_size=256):
        """Returns class probabilities `(N, C)` for images `x` (uint8 or float)."""
        logits = model.predict(to_float_images(x), batch_size=batch_size, verbose=0)
        return keras.ops.convert_to_numpy(keras.ops.softmax(logits, axis=-1))

    def output_transform(self, model):
        """How `predict` turns `model`'s outputs into probabilities, as `inference.InferenceModel`
        arguments: `{"logit_scale": 1.0}` (a plain softmax) unless a method says otherwise."""
        return {"logit_scale": 1.0}

    def inference_model(self, model, dataset, metadata=None, temperature=1.0):
        """`model` (trained by this method on `dataset`) with what its predictions need, as an
        `inference.InferenceModel` to save: its `predict` equals `self.predict(model, x)`.

        Args:
            model: the trained `keras.Model`.
            dataset: the `ImageDataset` it was trained on (shape, class names and counts).
            metadata: JSON-compatible dict stored with it. Defaults to `{}`.
            temperature: float > 0. A calibration temperature (`inference.fit_temperature`)
                applied after the method's own transform. Defaults to `1.0` (none).
        """
        return InferenceModel(model, dataset.image_shape, dataset.class_names,
                              dataset.class_counts, metadata=metadata,
                              temperature=temperature, **self.output_transform(model))

    def train(
        self,
        dataset,
        model_fn,
        epochs=10,
        batch_size=32,
        learning_rate=1e-3,
        seed=0,
        callbacks=(),
        verbose=0,
        jit_compile="auto",
        resume=None,
        augment=None,
        optimizer=None,
    ):
        """Builds, compiles and fits a model on `dataset.train`; returns `(model, history)`.

        Validation runs on `dataset.val` after every epoch.

        Args:
            dataset: `ImageDataset`.
            model_fn: callable `(input_shape, num_classes) -> keras.Model` with logits output.
            epochs: int >= 1. Defaults to `10`.
            batch_size: int >= 1. Defaults to `32`.
            learning_rate: float. The (base) learning rate. Defaults to `1e-3`.
            seed: int. Seeds weights and batches. Defaults to `0`.
            callbacks: extra Keras callbacks, run after the method's own.
            verbose: `fit` verbosity. Defaults to `0`.
            jit_compile: `"auto"`, `True` or `False`: XLA for the training step (Keras'
                `"auto"` uses it on a GPU only). Defaults to `"auto"`.
            augment: `None` (the method's own setting: no augmentation for most) or an
                augmentation of the training images for `data.resolve_augment`: `"flip"`,
                `"standard"` (flips, rotation, crop, colour jitter for RGB), a dict of
                `data.augment_batch` arguments or a callable. Defaults to `None`.
            resume: `None` or a `callbacks.ResumableBackup`: the run continues from the
                backup's last completed epoch on the batches an uninterrupted run would see,
                and keeps backing up after every epoch (`runs.train_resumable` hands it over).
                Defaults to `None`.
            optimizer: `None` (Adam at a constant `learning_rate`), an optimizer name
                (`"adam"`, `"sgd"`, `"adamw"`) or a training-configuration dict
                (`methods.optimization.training_config`: optimizer, momentum, weight decay,
                learning-rate schedule, warm-up, floor). The schedule runs over `epochs` x the
                steps per epoch. A method whose `compile` builds its own Adam gets the
                schedule as its learning rate; asking it for another optimizer is an error.
                Defaults to `None`.

        Mixed precision and `tf.distribute` come from the caller's context: build-and-train
        inside `kerasimb.utils.precision_policy(...)` and `strategy.scope()` (as
        `experiment.compare` does); `batch_size` is then the global batch size.
        """
        epochs = check_int(epochs, "epochs", minimum=1)
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        config = training_config(optimizer)
        keras.utils.set_random_seed(seed)
        model = self.build_model(model_fn, dataset)
        train_ds, steps = self.train_dataset(dataset, batch_size, seed, augment=augment)
        compile_with(self, model, dataset, config, learning_rate, epochs, steps,
                     check_jit_compile(jit_compile))
        all_callbacks = [*self.callbacks(dataset, epochs), *callbacks]
        if resume is not None:
            train_ds = resume.prepare(model, train_ds, steps, all_callbacks, dataset.image_shape)
            all_callbacks.append(resume)
        x_val, y_val = dataset.val
        val_ds = classification_dataset(x_val, y_val, dataset.num_classes, 256, shuffle=False)
        history = model.fit(
            train_ds,
            epochs=epochs,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=all_callbacks,
            verbose=verbose,
            shuffle=False,  # the tf.data pipeline shuffles; Keras warns if asked to as well
            **self.fit_kwargs(dataset),
        )
        return model, history


def compile_argument(config, learning_rate, epochs, steps):
    """What `Method.compile` gets as its `learning_rate` for a training configuration: the
    float (the default, Adam at a constant rate, exactly as before configurations existed), the
    schedule alone for plain Adam (so that a method compiling its own Adam still follows it), or
    the built optimizer."""
    if config is None:
        return learning_rate
    if config["optimizer"] == "adam" and config["weight_decay"] is None:
        return build_schedule(config, learning_rate, epochs, steps) or learning_rate
    return build_optimizer(config, learning_rate, epochs, steps)


def compile_with(method, model, dataset, config, learning_rate, epochs, steps, jit_compile):
    """`method.compile(model, ...)` with the training configuration `config`; raises when the
    method compiles its own optimizer and so cannot take the configuration's (SGD, AdamW, or
    Adam with weight decay)."""
    argument = compile_argument(config, learning_rate, epochs, steps)
    built = isinstance(argument, keras.optimizers.Optimizer)
    try:
        method.compile(model, dataset, argument, jit_compile=jit_compile)
        compiled = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # mixed
        refused = built and compiled is not argument  # precision wraps it in a LossScaleOptimizer
    except ValueError as error:  # e.g. `Adam(<an SGD instance>)` in a method's own compile
        if not built or "learning_rate" not in str(error):
            raise
        refused = True
    if refused:
        raise ValueError(
            f"Invalid value received for argument `optimizer`. Method {method.name!r} compiles "
            f"its own Adam optimizer and cannot take {type(argument).__name__}"
            f"{' with weight decay' if argument.weight_decay else ''}; use optimizer 'adam' "
            f"without weight decay (a learning-rate schedule still applies). Received: "
            f"optimizer={config}")


@kerasimb_export("kerasimb.methods.register", serializable=False)
def register(name, cls=None, aliases=()):
    """Registers a `Method` subclass under `name` (and `aliases`); usable as a decorator.

    The class's `name` attribute becomes `name`; an alias is another name for the same class
    (`get(alias).name == name`), not listed by `names()`.

    Args:
        name: str. The method's name, e.g. `"ce"`; lowercase letters, digits, `_` and `-`.
        cls: the `Method` subclass, or `None` to return a decorator.
        aliases: sequence of str, other names for the class (same spelling rules).
            Defaults to `()`.

    Raises:
        ValueError: the name or an alias is taken by another class, or malformed.
        TypeError: `cls` is not a `Method` subclass.

    Example:

    >>> @register("my-ce", aliases=("mine",))
    ... class MyCE(Method):
    ...     description = "cross-entropy, but mine"
    >>> get("mine").name
    'my-ce'
    >>> unregister("my-ce")
    """
    aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
    for argument, value in [("name", name)] + [("aliases", alias) for alias in aliases]:
        if not isinstance(value, str) or not value or not all(
                ch.islower() or ch.isdigit() or ch in "_-" for ch in value):
            raise ValueError(
                f"Invalid value received for argument `{argument}`. Expected lowercase letters, "
                f"digits, '_' or '-'. Received: {argument}={value!r}"
            )

    def decorator(cls):
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"Expected a subclass of `kerasimb.methods.Method`. Received: {cls!r}")
        METHODS.register(name, cls, aliases=aliases, description=cls.description or None)
        cls.name = name
        return cls

    return decorator if cls is None else decorator(cls)


@kerasimb_export("kerasimb.methods.unregister", serializable=False)
def unregister(name):
    """Removes a registered method with its aliases, or a single alias (for tests and
    interactive use); an unknown name is ignored. See `Registry.unregister`."""
    METHODS.unregister(name)


@kerasimb_export("kerasimb.methods.get", serializable=False)
def get(identifier, **params):
    """Returns a `Method` instance from a name, a `Method` subclass or an instance.

    Args:
        identifier: str (a registered name or alias, optionally with a modifier such as
            `"ce+perturb"`), a `Method` subclass, or a `Method` instance.
        **params: hyperparameters, for names and classes.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).

    Example:

    >>> get("aduc").name  # an alias of "aduni"
    'aduni'
    >>> get("ce+perturb").name
    'ce+perturb'
    """
    if isinstance(identifier, Method):
        if params:
            raise ValueError(f"Parameters {params} cannot be applied to an existing instance {identifier!r}.")
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Method):
        return identifier(**params)
    if identifier in METHODS:
        return METHODS.get(identifier)(**params)
    base, _, modifier = identifier.rpartition("+") if isinstance(identifier, str) else ("", "", "")
    if base and modifier in MODIFIERS:  # "<method>+<modifier>", e.g. "ce+perturb"
        return MODIFIERS.get(modifier)(base, **params)
    aliases = sorted(a for _, names, _ in METHODS.describe() for a in names)
    raise ValueError(
        "Invalid value received for argument `identifier`. Expected a registered method name, "
        f"one of {names()} (aliases: {aliases}), optionally followed by a modifier "
        f"{['+' + m for m in MODIFIERS.names()]}, or a Method. Received: identifier={identifier!r}"
    )


@kerasimb_export("kerasimb.methods.names", serializable=False)
def names():
    """Returns the registered method names, sorted; each method once (aliases not listed)."""
    return METHODS.names()
