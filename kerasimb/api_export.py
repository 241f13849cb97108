"""The one place where public symbols are declared and registered with Keras.

Every public class or function is decorated with `kerasimb_export("kerasimb.<sub>.<Name>")`.
The decorator records the symbol in `PUBLIC_API` (so tests can walk every export) and, for Keras
objects (layers, losses, metrics, models), registers it with
`keras.saving.register_keras_serializable(package="kerasimb")` so that configs and `.keras` files
revive it without `custom_objects`.
"""

import keras

PUBLIC_API = {}


def kerasimb_export(path, serializable=True):
    """Declares `symbol` public under `path`; registers Keras objects for serialization.

    Args:
        path: str. Dotted public path, e.g. `"kerasimb.metrics.BalancedAccuracy"`.
        serializable: bool. Register with Keras' serialization registry. Use `False` for plain
            functions, callbacks and non-Keras classes. Defaults to `True`.
    """

    def decorator(symbol):
        if path in PUBLIC_API and PUBLIC_API[path] is not symbol:
            raise ValueError(f"Public path `{path}` is exported twice.")
        if serializable:
            symbol = keras.saving.register_keras_serializable(package="kerasimb")(symbol)
        PUBLIC_API[path] = symbol
        return symbol

    return decorator


def serializable_exports():
    """Returns the exported classes that are registered with Keras serialization, sorted by path."""
    registered = keras.saving.get_custom_objects()
    return [
        symbol
        for path, symbol in sorted(PUBLIC_API.items())
        if isinstance(symbol, type) and f"kerasimb>{symbol.__name__}" in registered
    ]
