"""`Registry`: one name -> object table, the lookup convention of every kerasimb part.

Methods (`methods.METHODS`), models and backbones (`models.MODELS`), datasets
(`data.DATASETS`) and losses (`losses.LOSSES`) are each one `Registry`. A name is registered
once, for one object; an *alias* is another name for the same object (never a subclass or a
copy), so `names()` lists every object once and `get` answers to the name and to its aliases
alike.

This module imports neither Keras, TensorFlow nor NumPy, so reading a registry (for instance
listing names for a command line's `--help`) costs nothing beyond the registered objects' own
modules.
"""

import fnmatch

__all__ = ["Registry"]


class Registry:
    """A table of named objects with aliases, usable as a decorator.

    Names are strings. Every object has one canonical name and any number of aliases; a name
    (or alias) belongs to at most one object. With `normalise`, every lookup, registration and
    clash check goes through `normalise(name)` (e.g. case-insensitive names), while `names()`
    keeps the canonical names as they were registered.

    Args:
        kind: str. What the registry holds, singular (e.g. `"method"`); used in error messages.
        normalise: `None` or a callable `str -> str` applied to names before comparing them.
            Defaults to `None` (names compare exactly).

    Example:

    >>> colours = Registry("colour", normalise=str.lower)
    >>> @colours.register("red", aliases=("rouge",), description="the colour of blood")
    ... def red():
    ...     return (255, 0, 0)
    >>> colours.register("green", lambda: (0, 255, 0))
    <function <lambda> at ...>
    >>> colours.get("ROUGE")()
    (255, 0, 0)
    >>> colours.canonical("Rouge"), colours.names(), colours.aliases("red")
    ('red', ['green', 'red'], ['rouge'])
    >>> colours.list("g*")
    ['green']
    >>> colours.describe()
    [('green', (), None), ('red', ('rouge',), 'the colour of blood')]
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for argument `name`. Expected a registered colour name, one of ['green', 'red'] (aliases: ['rouge']). Received: name='blue'
    """

    def __init__(self, kind, normalise=None):
        if not isinstance(kind, str) or not kind:
            raise ValueError(
                "Invalid value received for argument `kind`. Expected a non-empty str. "
                f"Received: kind={kind!r}"
            )
        if normalise is not None and not callable(normalise):
            raise TypeError(
                "Invalid type received for argument `normalise`. Expected `None` or a callable "
                f"str -> str. Received: normalise={normalise!r}"
            )
        self.kind = kind
        self._normalise = normalise
        self._objects = {}  # canonical name -> object
        self._descriptions = {}  # canonical name -> str or None
        self._aliases = {}  # canonical name -> [alias, ...] in registration order
        self._keys = {}  # normalised name or alias -> canonical name

    def _key(self, name):
        return self._normalise(name) if self._normalise is not None else name

    def _lookup(self, name):
        """The canonical name for `name` (a name or an alias), or `None`."""
        if not isinstance(name, str):
            return None
        return self._keys.get(self._key(name))

    def _check_name(self, name, argument):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"Invalid value received for argument `{argument}`. Expected a non-empty str "
                f"({self.kind} name). Received: {argument}={name!r}"
            )

    def register(self, name, obj=None, *, aliases=(), description=None):
        """Registers `obj` under `name` (and `aliases`); usable as a decorator.

        Registering the same object again under the same name is allowed (new aliases are
        added); a name or alias that already belongs to another object, or a second canonical
        name for an object already registered, is an error.

        Args:
            name: str. The canonical name.
            obj: the object to register, or `None` to return a decorator that registers the
                object it decorates (and returns it unchanged).
            aliases: sequence of str. Other names for the same object. Defaults to `()`.
            description: `None` or a one-line str, returned by `describe()`. Defaults to `None`
                (on a repeated registration: keep the current description).

        Returns:
            `obj`, or the decorator when `obj` is `None`.

        Raises:
            ValueError: an empty or non-str name or alias, or a clash as described above.
            TypeError: a `description` that is neither `None` nor a str.
        """
        self._check_name(name, "name")
        if isinstance(aliases, str):
            aliases = (aliases,)
        aliases = tuple(aliases)
        for alias in aliases:
            self._check_name(alias, "aliases")
        if description is not None and not isinstance(description, str):
            raise TypeError(
                "Invalid type received for argument `description`. Expected `None` or a str. "
                f"Received: description={description!r}"
            )

        def decorator(obj):
            self._add(name, obj, aliases, description)
            return obj

        return decorator if obj is None else decorator(obj)

    def _add(self, name, obj, aliases, description):
        key = self._key(name)
        owner = self._keys.get(key)  # the canonical name that `name` already stands for
        if owner is not None and self._objects[owner] is not obj:
            raise ValueError(
                f"Invalid value received for argument `name`. A {self.kind} named {name!r} is "
                f"already registered (as {owner!r}): {self._objects[owner]!r}. Received: "
                f"name={name!r}"
            )
        if owner is not None and self._key(owner) != key:
            raise ValueError(
                f"Invalid value received for argument `name`. {name!r} is an alias of the "
                f"{self.kind} {owner!r}, not its name. Received: name={name!r}"
            )
        if owner is None:
            for canonical, existing in self._objects.items():
                if existing is obj:
                    raise ValueError(
                        f"Invalid value received for argument `name`. {obj!r} is already "
                        f"registered as the {self.kind} {canonical!r}; register other names "
                        f"for it as `aliases`. Received: name={name!r}"
                    )
        canonical = name if owner is None else owner
        seen = set()
        for alias in aliases:
            alias_key = self._key(alias)
            alias_owner = self._keys.get(alias_key)
            if alias_owner is not None and alias_owner != canonical:
                raise ValueError(
                    f"Invalid value received for argument `aliases`. A {self.kind} named "
                    f"{alias!r} is already registered (as {alias_owner!r}): "
                    f"{self._objects[alias_owner]!r}. Received: aliases={list(aliases)!r}"
                )
            if alias_key == key or alias_key in seen:
                raise ValueError(
                    "Invalid value received for argument `aliases`. Expected names different "
                    f"from `name` and from each other. Received: name={name!r}, "
                    f"aliases={list(aliases)!r}"
                )
            seen.add(alias_key)
        # Checked: now change the table.
        if owner is None:
            self._objects[canonical] = obj
            self._descriptions[canonical] = description
            self._aliases[canonical] = []
            self._keys[key] = canonical
        elif description is not None:
            self._descriptions[canonical] = description
        for alias in aliases:
            if self._key(alias) not in self._keys:
                self._aliases[canonical].append(alias)
                self._keys[self._key(alias)] = canonical

    def unregister(self, name):
        """Removes a name: a canonical name with its object and aliases, or just one alias.

        An unknown name is ignored, so `unregister` can run twice (e.g. in a test's clean-up).
        """
        canonical = self._lookup(name)
        if canonical is None:
            return
        key = self._key(name)
        if key != self._key(canonical):  # an alias: drop that name only
            del self._keys[key]
            self._aliases[canonical] = [a for a in self._aliases[canonical] if self._key(a) != key]
            return
        for alias in self._aliases.pop(canonical):
            del self._keys[self._key(alias)]
        del self._keys[key], self._objects[canonical], self._descriptions[canonical]

    def _unknown(self, name, argument):
        aliases = sorted(a for names in self._aliases.values() for a in names)
        also = f" (aliases: {aliases})" if aliases else ""
        return ValueError(
            f"Invalid value received for argument `{argument}`. Expected a registered "
            f"{self.kind} name, one of {self.names()}{also}. Received: {argument}={name!r}"
        )

    def canonical(self, name, *, argument="name"):
        """Returns the canonical name that `name` (a name or an alias) stands for.

        Args:
            name: str.
            argument: str. The argument name used in the error message. Defaults to `"name"`.

        Raises:
            ValueError: `name` is not registered (the message lists the registered names).
        """
        canonical = self._lookup(name)
        if canonical is None:
            raise self._unknown(name, argument)
        return canonical

    def get(self, name, *, argument="name"):
        """Returns the object registered under `name` (a name or an alias).

        Args:
            name: str.
            argument: str. The argument name used in the error message, for callers whose own
                argument has another name (e.g. `backbone_name`). Defaults to `"name"`.

        Raises:
            ValueError: `name` is not registered (the message names the kind, the value and the
                registered names).
        """
        return self._objects[self.canonical(name, argument=argument)]

    def names(self):
        """Returns the canonical names, sorted (aliases are not listed)."""
        return sorted(self._objects)

    def aliases(self, name):
        """Returns the aliases of the object `name` stands for, sorted.

        Raises:
            ValueError: `name` is not registered.
        """
        return sorted(self._aliases[self.canonical(name)])

    def list(self, pattern=None):
        """Returns the canonical names matching a shell-style `pattern` (`fnmatch`), sorted.

        Args:
            pattern: `None` (every name) or a str such as `"resnet*"`, matched case-sensitively
                against the canonical names. Defaults to `None`.
        """
        if pattern is None:
            return self.names()
        if not isinstance(pattern, str):
            raise TypeError(
                "Invalid type received for argument `pattern`. Expected `None` or a str. "
                f"Received: pattern={pattern!r}"
            )
        return [name for name in self.names() if fnmatch.fnmatchcase(name, pattern)]

    def describe(self):
        """Returns `[(name, aliases, description), ...]` sorted by name; aliases a sorted tuple."""
        return [(name, tuple(sorted(self._aliases[name])), self._descriptions[name])
                for name in self.names()]

    def __contains__(self, name):
        return self._lookup(name) is not None

    def __iter__(self):
        return iter(self.names())

    def __repr__(self):
        return f"Registry({self.kind!r}, names={self.names()})"
