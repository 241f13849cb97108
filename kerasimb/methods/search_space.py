"""Search spaces of training methods, as data: `Method.search_space = {param: spec}`.

A method's search space is a dict from one of its hyperparameters (a key of `defaults`) to a
*spec*, read by `Method.hyperparameters(hp)` (and through it by
`kerasimb.tuning.ImbalanceHyperModel`). A spec is one of:

- `("float", low, high)` or `("float", low, high, "log")`: `hp.Float`.
- `("int", low, high)`: `hp.Int`.
- `("choice", [value, ...])`: `hp.Choice`. Values of mixed types (e.g. `["auto", 1e-3]`) are
  offered to Keras Tuner as strings and mapped back.
- `("bool",)`: `hp.Boolean`.
- a dict `{"type": "float" | "int" | "choice" | "bool", "min": ..., "max": ...,
  "sampling": "linear" | "log", "values": [...], "default": ...}`, for an explicit default.

The default of every Keras Tuner hyperparameter is the method instance's own value
(`method.params[param]`), so a fresh `hp` gives back exactly the method's defaults; a spec's
explicit `"default"` is used where the method's value is `None` (e.g. "the paper's λ for this
metric loss"). A range that does not contain the default is widened to contain it, and a choice
that lacks it gets it appended, so that user-given values stay reachable. Hyperparameters not in
`search_space` keep their values. Methods without a search space contribute only their
defaults.

Example:

>>> import keras_tuner
>>> from kerasimb import methods
>>> hp = keras_tuner.HyperParameters()
>>> methods.get("focal").hyperparameters(hp)
{'gamma': 2.0}
>>> hp.values
{'focal.gamma': 2.0}
"""

import numbers

_TYPES = ("float", "int", "choice", "bool")


def _spec_dict(name, spec):
    """Normalises a tuple or dict spec to a dict; raises `ValueError` when malformed."""
    bad = ValueError(
        f"Invalid value received for the search space of `{name}`. Expected ('float', low, high"
        f"[, 'log']), ('int', low, high), ('choice', [values]), ('bool',) or a dict with a "
        f"'type' in {list(_TYPES)}. Received: {spec!r}"
    )
    if isinstance(spec, dict):
        spec = dict(spec)
    elif isinstance(spec, (tuple, list)) and spec and spec[0] in _TYPES:
        kind, rest = spec[0], list(spec[1:])
        if kind in ("float", "int") and len(rest) in (2, 3):
            spec = {"type": kind, "min": rest[0], "max": rest[1],
                    "sampling": rest[2] if len(rest) == 3 else "linear"}
        elif kind == "choice" and len(rest) == 1:
            spec = {"type": "choice", "values": list(rest[0])}
        elif kind == "bool" and not rest:
            spec = {"type": "bool"}
        else:
            raise bad
    else:
        raise bad
    if spec.get("type") not in _TYPES:
        raise bad
    if spec["type"] in ("float", "int"):
        if not all(isinstance(spec.get(k), numbers.Real) for k in ("min", "max")):
            raise bad
        if spec["min"] > spec["max"] or spec.get("sampling", "linear") not in ("linear", "log"):
            raise bad
        if spec.get("sampling") == "log" and spec["min"] <= 0:
            raise bad
    if spec["type"] == "choice" and not spec.get("values"):
        raise bad
    return spec


def declare(hp, name, spec, default):
    """Declares one hyperparameter `name` on `hp` from `spec`; returns its current value.

    Args:
        hp: `keras_tuner.HyperParameters`.
        name: str. The hyperparameter's name in `hp` (e.g. `"focal.gamma"`).
        spec: a search-space spec (see the module docstring).
        default: the method's own value; `None` falls back to the spec's `"default"`, then to
            the low end of the range (the first choice).

    Returns:
        The value drawn, as the method expects it: the default for a fresh `hp`, and also where
        `hp` reports the hyperparameter inactive (`None`, outside its conditional scope).

    Raises:
        ValueError: a malformed spec.
    """
    spec = _spec_dict(name, spec)
    if default is None:
        default = spec.get("default")
    value = _draw(hp, name, spec, default)
    return default if value is None else value


def _draw(hp, name, spec, default):
    kind = spec["type"]
    if kind == "bool":
        return hp.Boolean(name, default=bool(default) if default is not None else False)
    if kind == "choice":
        values = list(spec["values"])
        if default is not None and default not in values:
            values.append(default)
        if default is None:
            default = values[0]
        if len({type(v) for v in values}) == 1:
            return hp.Choice(name, values, default=default)
        encoded = {repr(v): v for v in values}  # mixed types: offer strings, map back
        return encoded.get(hp.Choice(name, list(encoded), default=repr(default)), default)
    low, high = spec["min"], spec["max"]
    if default is None:
        default = low
    low, high = min(low, default), max(high, default)
    if kind == "int":
        return hp.Int(name, int(low), int(high), default=int(default),
                      sampling=spec.get("sampling", "linear"))
    return hp.Float(name, float(low), float(high), default=float(default),
                    sampling=spec.get("sampling", "linear"))


def hyperparameters(method, hp, prefix=None):
    """Declares `method.search_space` on `hp`; returns the method's params with drawn values.

    Args:
        method: a `Method` instance.
        hp: `keras_tuner.HyperParameters`.
        prefix: str prepended to each name as `"<prefix>.<param>"`. Defaults to the method's
            name.

    Returns:
        dict: `method.params` with the searched ones replaced by the values drawn from `hp`.

    Raises:
        ValueError: a spec for a parameter the method does not have, or a malformed spec.
    """
    prefix = prefix or method.name or type(method).__name__
    params = dict(method.params)
    for param, spec in method.search_space.items():
        if param not in params:
            raise ValueError(
                f"Invalid value received for the search space of method `{method.name}`. "
                f"Expected parameters among {sorted(params)}. Received: {param!r}"
            )
        params[param] = declare(hp, f"{prefix}.{param}", spec, params[param])
    return params
