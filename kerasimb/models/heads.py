"""Taking a classifier apart: its feature extractor, and the same network with another head."""

import keras

from kerasimb.api_export import kerasimb_export


def output_shape(model):
    """Returns the output shape of a single-output model as a tuple, or `None` if unknown.

    Reads `model.output` (functional models), else asks `compute_output_shape` on the model's
    `input_shape` (e.g. a `Sequential` built with `build()`); a model that can answer neither
    (not built, or subclassed without an `input_shape`) gives `None`.

    Example:

    >>> output_shape(keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)]))
    (None, 5)
    >>> output_shape(keras.Sequential([keras.layers.Dense(5)])) is None  # not built
    True
    """
    try:
        return tuple(model.output.shape)
    except (AttributeError, ValueError):
        pass
    try:
        return tuple(model.compute_output_shape(model.input_shape))
    except Exception:  # noqa: BLE001 - any failure means the shape is unknown
        return None


def _classifier_layer(model):
    """Returns the final `Dense` of a functional logits model (preferably the layer `"logits"`)."""
    try:
        symbolic = isinstance(model, keras.Model) and bool(model.outputs)
    except (AttributeError, ValueError):
        symbolic = False
    if not symbolic:
        raise TypeError(
            "Invalid type received for argument `model`. Expected a functional keras.Model (e.g. "
            f"SmallCNN or build_classifier). Received: model={model!r}"
        )
    names = [layer.name for layer in model.layers]
    layer = model.get_layer("logits") if "logits" in names else model.layers[-1]
    outputs = model.outputs
    if not isinstance(layer, keras.layers.Dense) or len(outputs) != 1 or layer.output is not outputs[0]:
        raise ValueError(
            "Invalid value received for argument `model`. Expected a functional model whose single "
            "output is a final Dense layer (features -> Dense(num_classes)). Received: model "
            f"{model.name!r} with output layer {layer.name!r} of type {type(layer).__name__}"
        )
    return layer


@kerasimb_export("kerasimb.models.feature_extractor", serializable=False)
def feature_extractor(model):
    """Returns the functional model from `model`'s inputs to the input of its final `Dense`.

    Works for every model of `kerasimb.models` (`SmallCNN`, `build_classifier`) and any
    functional model ending in `features -> Dense(num_classes)`. The returned model shares its
    layers (and weights) with `model`.

    Args:
        model: functional `keras.Model` whose output layer is a `Dense` (named `"logits"` in
            kerasimb's models).

    Returns:
        A `keras.Model` named `"<model name>_features"` returning `(batch, features)`.

    Raises:
        TypeError: `model` is not a functional Keras model.
        ValueError: its output is not produced by a final `Dense` layer.

    Example:

    >>> from kerasimb.models import SmallCNN
    >>> model = SmallCNN((16, 16, 1), num_classes=3, width=4, depth=2)
    >>> tuple(feature_extractor(model).output.shape)
    (None, 8)
    """
    layer = _classifier_layer(model)
    return keras.Model(model.inputs, layer.input, name=f"{model.name}_features")


@kerasimb_export("kerasimb.models.replace_head", serializable=False)
def replace_head(model, head, name=None):
    """Returns `model` with its final `Dense` classifier replaced by the layer `head`.

    The new model is `feature_extractor(model)` followed by `head`; it shares every other layer
    (and its weights) with `model`. Used by the LDAM methods to put a `layers.CosineClassifier`
    on the penultimate features of any model `model_fn` builds.

    Args:
        model: functional `keras.Model` ending in `features -> Dense(num_classes)`.
        head: a `keras.layers.Layer` mapping `(batch, features)` to logits.
        name: str or `None`. Name of the new model. Defaults to `"<model name>_<head name>"`.

    Returns:
        A functional `keras.Model` with the same inputs and `head`'s output.

    Raises:
        TypeError: `model` is not a functional model or `head` is not a layer.
        ValueError: `model`'s output is not produced by a final `Dense` layer.

    Example:

    >>> from kerasimb.layers import CosineClassifier
    >>> from kerasimb.models import SmallCNN
    >>> model = SmallCNN((16, 16, 1), num_classes=3, width=4, depth=2)
    >>> cosine = replace_head(model, CosineClassifier(3, name="cosine"))
    >>> tuple(cosine.output.shape), cosine.layers[-1].name
    ((None, 3), 'cosine')
    """
    if not isinstance(head, keras.layers.Layer):
        raise TypeError(
            f"Invalid type received for argument `head`. Expected a keras.layers.Layer. "
            f"Received: head={head!r}"
        )
    layer = _classifier_layer(model)
    outputs = head(layer.input)
    return keras.Model(model.inputs, outputs, name=name or f"{model.name}_{head.name}")
