"""`losses.get`: resolve a loss from a name, a config or an instance; `LOSSES`, the names.

`LOSSES` is a `kerasimb.registry.Registry` (case-insensitive, `-` and ` ` read as `_`). Every
kerasimb loss is registered under its snake-case name without `_loss` (`"focal"`,
`"class_balanced"`, `"ldam"`, ...), with its class name and its full snake-case name as aliases
(`"FocalLoss"`, `"focal_loss"`); `"cb"` is an alias of `"class_balanced"`. Names that fix
constructor arguments are entries of their own, registered as a `functools.partial` of the class:
`"cb_softmax"`, `"cb_sigmoid"`, `"cb_focal"` (`ClassBalancedLoss(loss_type=...)`) and
`"balanced_softmax"` (`LogitAdjustedLoss(tau=1.0)`).

Example:

>>> LOSSES.canonical("FocalLoss"), LOSSES.aliases("class_balanced")
('focal', ['cb', 'class_balanced_loss', 'classbalancedloss'])
>>> LOSSES.list("cb_*")
['cb_focal', 'cb_sigmoid', 'cb_softmax']
"""

import functools
import inspect
import re

import keras

from kerasimb.api_export import kerasimb_export
from kerasimb.losses.center import CenterLoss
from kerasimb.losses.class_balanced import ClassBalancedLoss
from kerasimb.losses.focal import FocalLoss
from kerasimb.losses.ldam import LDAMLoss
from kerasimb.losses.logit_adjusted import LogitAdjustedLoss
from kerasimb.losses.margin import MarginLoss
from kerasimb.losses.supcon import SupConLoss
from kerasimb.losses.triplet import TripletLoss
from kerasimb.losses.unified_contrastive import UnifiedContrastiveLoss
from kerasimb.registry import Registry


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _normalise(name):
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _register_class(cls, *extra_aliases):
    """Registers `cls` as `<snake name without _loss>`, aliases its snake and class names."""
    long_name = _snake(cls.__name__)
    name, *aliases = dict.fromkeys(
        [long_name.removesuffix("_loss"), long_name, cls.__name__.lower(), *extra_aliases])
    summary = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
    LOSSES.register(name, cls, aliases=aliases, description=summary)


def _register_fixed(name, cls, **fixed):
    """Registers `name` for `cls` with constructor arguments `fixed` (a `functools.partial`)."""
    args = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
    LOSSES.register(name, functools.partial(cls, **fixed), description=f"{cls.__name__}({args})")


LOSSES = Registry("loss", normalise=_normalise)
_register_class(CenterLoss)
_register_class(ClassBalancedLoss, "cb")
_register_class(FocalLoss)
_register_class(LDAMLoss)
_register_class(LogitAdjustedLoss)
_register_class(MarginLoss)
_register_class(SupConLoss)
_register_class(TripletLoss)
_register_class(UnifiedContrastiveLoss)
_register_fixed("cb_softmax", ClassBalancedLoss, loss_type="softmax")
_register_fixed("cb_sigmoid", ClassBalancedLoss, loss_type="sigmoid")
_register_fixed("cb_focal", ClassBalancedLoss, loss_type="focal")
_register_fixed("balanced_softmax", LogitAdjustedLoss, tau=1.0)


def _interpret_error(identifier):
    return ValueError(f"Could not interpret loss identifier: {identifier!r}")


@kerasimb_export("kerasimb.losses.get", serializable=False)
def get(identifier, **kwargs):
    """Returns a loss from a name, a config dict, an instance or a callable.

    Names are those of `LOSSES` (case-insensitive with `-` and `_` interchangeable): every
    kerasimb loss answers to its class name, its snake-case name and that name without `_loss`
    (`"FocalLoss"`, `"focal_loss"`, `"focal"`; `"class_balanced"`, `"ldam"`,
    `"logit_adjusted"`, ...), plus `"cb"`, `"cb_softmax"`, `"cb_sigmoid"`, `"cb_focal"` and
    `"balanced_softmax"` (`LogitAdjustedLoss` with `tau=1`). Other names go to
    `keras.losses.get` (e.g. `"categorical_crossentropy"`). `kwargs` are constructor arguments
    for names, e.g. `get("ldam", class_counts=[90, 10])`.

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
        if identifier in LOSSES:
            entry = LOSSES.get(identifier)
            cls, fixed = (entry.func, entry.keywords) if isinstance(entry, functools.partial) else (
                entry, {})
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
        ours = {entry.__name__: entry for entry in map(LOSSES.get, LOSSES)
                if isinstance(entry, type)}
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
