"""`losses.get`: resolve a loss from a name, a config or an instance."""

import inspect
import re

import keras

from kerasimb.api_export import kerasimb_export

# Extra names for losses whose class name is not the natural short name. Values are
# `(class name, fixed constructor arguments)`.
_ALIASES = {
    "cb": ("ClassBalancedLoss", {}),
    "cb_softmax": ("ClassBalancedLoss", {"loss_type": "softmax"}),
    "cb_sigmoid": ("ClassBalancedLoss", {"loss_type": "sigmoid"}),
    "cb_focal": ("ClassBalancedLoss", {"loss_type": "focal"}),
    "balanced_softmax": ("LogitAdjustedLoss", {"tau": 1.0}),
}


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _normalise(name):
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _kerasimb_losses():
    """Returns `{class name: class}` for every loss registered by kerasimb."""
    found = {}
    for key, obj in keras.saving.get_custom_objects().items():
        if key.startswith("kerasimb>") and isinstance(obj, type) and issubclass(obj, keras.losses.Loss):
            found[obj.__name__] = obj
    return found


def _lookup_table():
    table = {}
    for class_name, cls in _kerasimb_losses().items():
        snake = _snake(class_name)
        for key in (class_name.lower(), snake, snake.removesuffix("_loss")):
            table[key] = (cls, {})
    classes = _kerasimb_losses()
    for alias, (class_name, fixed) in _ALIASES.items():
        if class_name in classes:
            table[alias] = (classes[class_name], fixed)
    return table


def _interpret_error(identifier):
    return ValueError(f"Could not interpret loss identifier: {identifier!r}")


@kerasimb_export("kerasimb.losses.get", serializable=False)
def get(identifier, **kwargs):
    """Returns a loss from a name, a config dict, an instance or a callable.

    Names are case-insensitive with `-` and `_` interchangeable: every kerasimb loss answers to
    its class name, its snake-case name and that name without `_loss` (`"FocalLoss"`,
    `"focal_loss"`, `"focal"`; `"class_balanced"`, `"ldam"`, `"logit_adjusted"`, ...), plus the
    aliases `"cb"`, `"cb_softmax"`, `"cb_sigmoid"`, `"cb_focal"` and `"balanced_softmax"`
    (`LogitAdjustedLoss` with `tau=1`). Other names go to `keras.losses.get` (e.g.
    `"categorical_crossentropy"`). `kwargs` are constructor arguments for names, e.g.
    `get("ldam", class_counts=[90, 10])`.

    Args:
        identifier: str, config dict (`{"class_name": ..., "config": ...}` as written by
            `keras.saving.serialize_keras_object`), a `keras.losses.Loss` or a callable.
        **kwargs: constructor arguments, only for names.

    Returns:
        A `keras.losses.Loss` instance (or the callable given, or a Keras loss function).

    Raises:
        ValueError: "Could not interpret loss identifier ..." for anything else, or when
            `kwargs` are given with an instance or config.
        TypeError: a name whose loss needs arguments that were not given (e.g. `class_counts`).

    Example:

    >>> type(get("focal", gamma=1.0)).__name__
    'FocalLoss'
    >>> get("balanced_softmax", class_counts=[90, 10]).tau
    1.0
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        key = _normalise(identifier)
        table = _lookup_table()
        if key in table:
            cls, fixed = table[key]
            clash = sorted(set(fixed) & set(kwargs))
            if clash:
                raise ValueError(
                    f"Invalid argument received for loss {identifier!r}: {clash} is fixed by "
                    f"this name to {fixed}. Received: {kwargs}"
                )
            required = [
                p.name
                for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                and p.name not in kwargs
            ]
            if required:
                raise TypeError(
                    f"Loss {identifier!r} ({cls.__name__}) needs the argument(s) {required}: "
                    f"pass them as keywords, e.g. losses.get({identifier!r}, {required[0]}=...). "
                    f"Received: {kwargs}"
                )
            return cls(**{**fixed, **kwargs})
        if kwargs:
            raise _interpret_error(identifier)
        try:
            return keras.losses.get(identifier)
        except ValueError:
            raise _interpret_error(identifier) from None
    if kwargs:
        raise ValueError(
            f"Constructor arguments {sorted(kwargs)} apply only to loss names. Received: "
            f"identifier={identifier!r}"
        )
    if isinstance(identifier, keras.losses.Loss):
        return identifier
    if isinstance(identifier, dict):
        ours = _kerasimb_losses()
        try:
            if identifier.get("class_name") in ours:
                loss = keras.saving.deserialize_keras_object(identifier, module_objects=ours)
            else:
                loss = keras.losses.get(identifier)
        except (ValueError, TypeError, KeyError):
            raise _interpret_error(identifier) from None
        if isinstance(loss, keras.losses.Loss) or callable(loss):
            return loss
        raise _interpret_error(identifier)
    if callable(identifier):
        return identifier
    raise _interpret_error(identifier)
