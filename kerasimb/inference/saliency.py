"""Saliency maps: where in the image a classifier's logit comes from.

- `grad_cam` (Selvaraju et al., ICCV 2017): the feature maps A_k of a convolutional layer,
  weighted by the spatial mean of the class logit's gradient, α_k = mean_ij ∂y_c / ∂A_k,ij;
  the map is ReLU(Σ_k α_k A_k), resized bilinearly to the input's height and width and scaled
  to [0, 1] per image (min-max; a flat map, e.g. all zeros, gives zeros).
- `input_gradient` (Simonyan et al., 2014): |∂y_c / ∂x|, the largest over the channels, scaled
  to [0, 1] per image the same way.
- `overlay` and `save_overlays`: a map drawn over its image with matplotlib's `jet` colour map.

y_c is the logit of class c, taken before any softmax: a model whose last layer is a `Softmax`
/ `Activation("softmax")` layer or a layer with `activation="softmax"` (e.g. `Dense`) is
differentiated before that softmax. A model that outputs probabilities some other way is
differentiated as it is (the map is then that of the probability).

Which models: any functional or `Sequential` `keras.Model` (keras.applications backbones nested
inside another model included, at any depth), the models of `kerasimb.models` (`SmallCNN`,
`build_classifier` backbones, `ResNet18`, `QuadSNet`, and `TwoStageClassifier` / `AdUni` through
their encoder), and an `inference.InferenceModel` (its `network`; the logit scale and
temperature of an `InferenceModel` only scale the logits, which leaves the normalised maps
unchanged). The layer is found as follows when `layer_name` is `None`:

- the last convolution (`Conv2D`, `SeparableConv2D`, `DepthwiseConv2D`, `Conv2DTranspose`)
  whose output has height and width > 1, and then the last layer after it whose output has the
  same height and width (its batch normalisation, activation or residual sum: `out_relu` in
  MobileNetV2, `conv5_block3_out` in ResNet50, `block2_relu` in a two-block `SmallCNN`);
  without such a convolution, the last layer with a 4-D output of height and width > 1;
- QuadSNet (any model with `layers.QuadSNetBlock`s): the mean of the maps of its four streams,
  each taken at the convolution of the stream's last block (before its pooling). Naming a
  `QuadSNetBlock` as `layer_name` takes the map of its convolution too.

The maps are computed on a model built from the same layers (no weights are copied) that
returns the feature maps beside the logits; its logits are checked against the model's own on
the first batch, so a forward pass that could not be reproduced raises instead of giving a
wrong map.
"""

import numbers
import os
import weakref

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from kerasimb.api_export import kerasimb_export
from kerasimb.inference.model import InferenceModel
from kerasimb.layers.quadsnet_block import QuadSNetBlock
from kerasimb.models.aduni import AdUni
from kerasimb.models.two_stage import TwoStageClassifier
from kerasimb.utils.atomic import atomic_path
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_float, check_int

__all__ = ["grad_cam", "input_gradient", "overlay", "save_overlays"]

CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
                keras.layers.Conv2DTranspose)
SHOWN_CANDIDATES = 12  # layer names an unknown `layer_name` error lists (the last ones)

# network -> {its target layers: the traced model returning their maps and the logits}
_TRACED = weakref.WeakKeyDictionary()


# --- The network and its layers --------------------------------------------------------------


def _network(model):
    if isinstance(model, InferenceModel):
        return model.network
    if not isinstance(model, keras.Model):
        raise TypeError("Invalid type received for argument `model`. Expected a keras.Model or "
                        "an inference.InferenceModel. Received: model of type "
                        f"{type(model).__name__}")
    return model


def _encoder(model):
    """The feature extractor of a two-part subclassed model (`None` for other models)."""
    if isinstance(model, TwoStageClassifier):
        return model.backbone
    if isinstance(model, AdUni):
        return model.encoder
    return None


def _is_graph_model(model):
    """Whether `model` is a functional or `Sequential` model (symbolic inputs and outputs)."""
    try:
        return bool(model.inputs) and bool(model.outputs)
    except (AttributeError, ValueError):
        return False


def _input_shape(model):
    encoder = _encoder(model)
    if encoder is not None:
        return _input_shape(encoder)
    if not _is_graph_model(model) or len(model.inputs) != 1:
        raise ValueError(
            "Invalid value received for argument `model`. Expected a functional or Sequential "
            "keras.Model with one image input (or a model of kerasimb.models). Received: model "
            f"{model.name!r} of type {type(model).__name__}")
    return tuple(model.inputs[0].shape[1:])


def _children(model):
    encoder = _encoder(model)
    if encoder is not None:
        return [encoder]
    if not _is_graph_model(model):
        return []
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _map_shape(layer):
    """The shape of the feature map Grad-CAM takes at `layer` (its convolution's for a
    `QuadSNetBlock`), or `None` when it is not known."""
    try:
        if isinstance(layer, QuadSNetBlock):
            return tuple(layer.conv.compute_output_shape(tuple(layer.input.shape)))
        return tuple(layer.output.shape)
    except (AttributeError, ValueError, TypeError):
        return None


def _layers(model, path=()):
    """`[(path, layer, shape)]` of every layer of `model`, nested models searched in place
    (`path` is the chain of layers from the outermost model's child down to the layer)."""
    found = []
    for layer in _children(model):
        if isinstance(layer, keras.Model):
            found += _layers(layer, path + (layer,))
        else:
            found.append((path + (layer,), layer, _map_shape(layer)))
    return found


def _is_map(shape):
    return (shape is not None and len(shape) == 4
            and all(d is None or d > 1 for d in shape[1:3]))


def _path_name(path):
    return "/".join(layer.name for layer in path)


def _stream(block):
    return block.name.rsplit("_block", 1)[0]


def _default_targets(network):
    layers = [(path, layer, shape) for path, layer, shape in _layers(network) if _is_map(shape)]
    blocks = [(path, layer) for path, layer, _ in layers if isinstance(layer, QuadSNetBlock)]
    if blocks:  # QuadSNet: the last block of every stream
        last = {}
        for path, layer in blocks:
            last[_stream(layer)] = path
        return list(last.values())
    convolutions = [i for i, (_, layer, _) in enumerate(layers) if isinstance(layer, CONVOLUTIONS)]
    if convolutions:
        start = convolutions[-1]
        size = layers[start][2][1:3]
        same = [i for i in range(start, len(layers)) if layers[i][2][1:3] == size]
        return [layers[same[-1]][0]]
    if layers:
        return [layers[-1][0]]
    raise ValueError(
        "Invalid value received for argument `model`. Expected a model with a convolutional "
        "feature map (a layer with a 4-D output of height and width > 1) for Grad-CAM. "
        f"Received: model {network.name!r}, which has none")


def _targets(network, layer_name):
    """The layer paths whose maps are averaged: the default ones, or those named."""
    if layer_name is None:
        return _default_targets(network)
    names = [layer_name] if isinstance(layer_name, str) else layer_name
    if (isinstance(names, bytes) or not hasattr(names, "__iter__")
            or not all(isinstance(n, str) for n in names) or not list(names)):
        raise TypeError("Invalid type received for argument `layer_name`. Expected None, a layer "
                        "name or a list of layer names. Received: "
                        f"layer_name={layer_name!r}")
    layers = _layers(network)
    candidates = [_path_name(path) for path, _, shape in layers if _is_map(shape)]
    targets = []
    for name in names:
        matches = [(path, shape) for path, layer, shape in layers
                   if name in (layer.name, _path_name(path))]
        if not matches:
            shown = candidates[-SHOWN_CANDIDATES:]
            which = (f"the last {len(shown)} of {len(candidates)}: "
                     if len(candidates) > len(shown) else "")
            raise ValueError(
                f"Invalid value received for argument `layer_name`. Expected the name of a layer "
                f"of model {network.name!r} with a 4-D feature map ({which}{shown}). Received: "
                f"layer_name={name!r}, which is not a layer of the model")
        if len(matches) > 1:
            raise ValueError(
                f"Invalid value received for argument `layer_name`. Expected a name that picks "
                f"one layer; {name!r} names {len(matches)}: pass one of "
                f"{[_path_name(p) for p, _ in matches]}. Received: layer_name={name!r}")
        path, shape = matches[0]
        if not _is_map(shape):
            raise ValueError(
                f"Invalid value received for argument `layer_name`. Expected a layer with a 4-D "
                f"output (batch, height, width, channels) of height and width > 1, such as "
                f"{candidates[-3:]}. Received: layer_name={name!r} with output shape {shape}")
        targets.append(path)
    return targets


# --- The model returning feature maps and logits ---------------------------------------------


class _PreActivation(keras.layers.Layer):
    """Calls a layer with its activation switched off (the logits of a softmax `Dense`)."""

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_pre_activation", **kwargs)
        self.inner = layer

    def call(self, inputs):
        saved = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            return self.inner(inputs)
        finally:
            self.inner.activation = saved

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)


def _is_softmax(fn):
    return fn is keras.activations.softmax or getattr(fn, "__name__", "") == "softmax"


def _final_softmax(model):
    """`"layer"` (a final Softmax / Activation("softmax") layer), `"activation"` (a final layer
    with `activation="softmax"`) or `None`, and that layer."""
    if not _is_graph_model(model) or len(model.outputs) != 1:
        return None, None
    layer = model.layers[-1]
    try:
        if layer.output is not model.outputs[0]:
            return None, None
    except (AttributeError, ValueError):
        return None, None
    if isinstance(layer, keras.layers.Softmax):
        return "layer", layer
    if _is_softmax(getattr(layer, "activation", None)):
        return ("layer" if isinstance(layer, keras.layers.Activation) else "activation"), layer
    return None, None


class _BlockMap(keras.layers.Layer):
    """Runs a `QuadSNetBlock` as its `call` does at inference and returns `[the map of its
    convolution (after the activation, before pooling), the block's output]`."""

    def __init__(self, block, **kwargs):
        super().__init__(name=f"{block.name}_map", **kwargs)
        self.block = block

    def call(self, inputs):
        block = self.block
        conv = block.conv(inputs)
        y = block.bn(conv, training=False)
        feature_map = conv
        if block.activation_after_bn:
            y = feature_map = block.act(y)
        y = block.drop(y, training=False)
        return [feature_map, block.pool(y)]


def _single(tensors):
    return tensors[0] if len(tensors) == 1 else tensors


def _as_list(outputs):
    """A model's outputs as a list (Keras returns a single output unwrapped)."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _run(traced, x):
    return _as_list(traced(x, training=False))


def _traced(model, targets, top=False):
    """A functional model from `model`'s input to `[map of each target, *model outputs]`, made
    of `model`'s own layers. `targets` are layer paths relative to `model`."""
    encoder = _encoder(model)
    if encoder is not None:  # TwoStageClassifier / AdUni at inference: classifier(encoder(x))
        inner = _traced(encoder, [path[1:] for path in targets])
        inputs = keras.Input(shape=tuple(encoder.inputs[0].shape[1:]), name="images")
        *maps, features = _as_list(inner(inputs))
        return keras.Model(inputs, [*maps, model.classifier(features)])
    if not _is_graph_model(model):
        raise ValueError(
            "Invalid value received for argument `model`. Expected a functional or Sequential "
            "keras.Model (or a model of kerasimb.models) whose layers can be followed. "
            f"Received: model {model.name!r} of type {type(model).__name__}")
    captured = {}
    softmax, final = _final_softmax(model) if top else (None, None)

    def call(layer, *args, **kwargs):
        here = [i for i, path in enumerate(targets) if path[0] is layer]
        if any(i in captured for i in here):
            raise ValueError(
                f"Invalid value received for argument `layer_name`. Expected a layer called once "
                f"in the forward pass. Received: {_path_name(targets[here[0]])!r}, which is "
                "called more than once (a shared layer)")
        if layer is final and softmax == "layer":
            return args[0]
        if layer is final and softmax == "activation":
            return _PreActivation(layer)(*args)
        if not here:
            return layer(*args, **kwargs)
        if len(targets[here[0]]) > 1:  # a nested model holding the targets
            *maps, outputs = _as_list(
                _traced(layer, [targets[i][1:] for i in here])(*args, **kwargs))
        elif isinstance(layer, QuadSNetBlock):
            feature_map, outputs = _BlockMap(layer)(*args)
            maps = [feature_map] * len(here)
        else:
            outputs = layer(*args, **kwargs)
            maps = [outputs] * len(here)
        captured.update(zip(here, maps))
        return outputs

    plain = keras.Model(_single(model.inputs), _single(model.outputs))
    clone = keras.models.clone_model(plain, clone_function=lambda layer: layer, call_function=call)
    missing = [_path_name(targets[i]) for i in range(len(targets)) if i not in captured]
    if missing:
        raise ValueError(f"Invalid value received for argument `layer_name`. Expected layers on "
                         f"the path from the input to the output. Received: {missing}")
    return keras.Model(clone.input, [captured[i] for i in range(len(targets))] + clone.outputs)


def _check_forward(network, traced, x):
    """Raises if the traced model's logits differ from the model's own outputs on `x`."""
    softmax = _final_softmax(network)[0] is not None
    own = np.asarray(keras.ops.convert_to_numpy(network(x, training=False)), np.float32)
    logits = np.asarray(keras.ops.convert_to_numpy(_run(traced, x)[-1]), np.float32)
    if softmax:
        logits = np.asarray(tf.nn.softmax(logits, axis=-1))
    if own.shape != logits.shape or not np.allclose(own, logits, rtol=1e-2, atol=1e-3):
        raise ValueError(
            f"Invalid value received for argument `model`. Expected a model whose forward pass "
            f"can be followed layer by layer, but the rebuilt model of {network.name!r} gives "
            "other outputs than the model itself (a layer whose call does more than its "
            "graph shows?). Pass a functional model of its layers.")


# --- Inputs ----------------------------------------------------------------------------------


def _check_images(images, shape):
    x = np.asarray(images)
    expected = tuple(None if d is None else int(d) for d in shape)
    fits = x.ndim == 4 and all(e is None or e == d for e, d in zip(expected, x.shape[1:]))
    if not fits:
        raise ValueError(
            "Invalid value received for argument `images`. Expected images of shape (N, H, W, C) "
            f"matching the model's input (N, {', '.join(map(str, expected))}). Received: images "
            f"with shape {x.shape}")
    if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
        raise TypeError("Invalid type received for argument `images`. Expected uint8 (divided by "
                        "255) or float images. Received: images with dtype "
                        f"{x.dtype}")
    return to_float_images(x)


def _check_class_index(class_index, count, num_classes):
    """`None` (the predicted classes) or an int64 array `(count,)` of classes."""
    if class_index is None:
        return None
    if isinstance(class_index, (bool, np.bool_)):
        raise TypeError("Invalid type received for argument `class_index`. Expected None, an "
                        f"int or an int array of shape (N,). Received: class_index={class_index!r}")
    if isinstance(class_index, numbers.Integral):
        values = np.full(count, int(class_index), np.int64)
    else:
        array = np.asarray(class_index)
        if array.dtype.kind not in "iu":
            raise TypeError(
                "Invalid type received for argument `class_index`. Expected None, an int or an "
                f"int array of shape (N,). Received: class_index with dtype {array.dtype}")
        if array.shape != (count,):
            raise ValueError(
                f"Invalid value received for argument `class_index`. Expected an int or one "
                f"class per image, shape ({count},). Received: class_index with shape "
                f"{array.shape}")
        values = array.astype(np.int64)
    bad = values[(values < 0) | (values >= num_classes)]
    if bad.size:
        shown = int(class_index) if isinstance(class_index, numbers.Integral) else int(bad[0])
        raise ValueError(
            f"Invalid value received for argument `class_index`. Expected classes in [0, "
            f"{num_classes}) (the model has {num_classes} outputs). Received: "
            f"class_index={shown}")
    return values


def _normalise(maps):
    """Per-image min-max scaling of `(B, H, W)` maps to [0, 1]; a flat map gives zeros."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def _chosen(logits, classes):
    if classes is None:
        return tf.argmax(logits, axis=-1)
    return tf.constant(classes)


def _score(logits, classes):
    """The sum over the batch of each image's logit of its class (rows are independent)."""
    logits = tf.cast(logits, tf.float32)
    return tf.reduce_sum(tf.gather(logits, _chosen(logits, classes), batch_dims=1))


def _prepare(model, images, class_index, batch_size, layer_name=None, maps=False):
    """Checks the arguments; returns `(float images, traced model, classes or None, batch
    size)`. The traced model (feature maps and logits) is built once per network and layers,
    and checked against the network's own outputs on the first images the first time."""
    network = _network(model)
    x = _check_images(images, _input_shape(network))
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    targets = _targets(network, layer_name) if maps else []
    key = tuple(tuple(id(layer) for layer in path) for path in targets)
    built = _TRACED.setdefault(network, {})
    traced = built.get(key)
    if traced is None:
        traced = _traced(network, targets, top=True)
        if len(x):
            _check_forward(network, traced, tf.constant(x[:batch_size]))
            built[key] = traced
    classes = _check_class_index(class_index, len(x), int(traced.outputs[-1].shape[-1]))
    return x, traced, classes, batch_size


def _batches(count, batch_size):
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]


# --- Public functions ------------------------------------------------------------------------


@kerasimb_export("kerasimb.inference.grad_cam", serializable=False)
def grad_cam(model, images, class_index=None, layer_name=None, batch_size=32):
    """Grad-CAM heat maps (Selvaraju et al., 2017) at the input's resolution, in [0, 1].

    For each image and class c, with A_k the k-th feature map of the layer and y_c the class
    logit (before any softmax): α_k = mean over (i, j) of ∂y_c / ∂A_k[i, j], the map is
    ReLU(Σ_k α_k A_k), resized bilinearly to the image's height and width and scaled to [0, 1]
    (minimum 0, maximum 1 per image; a flat map, e.g. all zeros, stays zeros). See the module
    docstring for the models it takes and the layer it picks.

    Args:
        model: a `keras.Model` returning logits (functional, `Sequential`, or one of
            `kerasimb.models`), or an `inference.InferenceModel` (its `network` is used).
        images: array `(N, H, W, C)` matching the model's input; uint8 images are divided by
            255, float images are used as they are.
        class_index: `None` (each image's predicted class), an int (the same class for every
            image) or an int array `(N,)`. Defaults to `None`.
        layer_name: `None` (the last convolutional layer; the four streams' last convolutions,
            averaged, for QuadSNet), the name of a layer with a 4-D output (a nested model's
            layer by its own name, or as `"outer/inner"` when the name is not unique), or a list
            of names (the mean of their maps). Defaults to `None`.
        batch_size: int >= 1. Images per forward and backward pass. Defaults to `32`.

    Returns:
        float32 numpy array `(N, H, W)` in [0, 1].

    Raises:
        ValueError: images that do not match the model's input, a `class_index` outside
            `[0, num_classes)` or of the wrong length, an unknown `layer_name` (the message
            lists candidates) or one without a 4-D map, a model without one.
        TypeError: a `model` that is not a keras.Model, non-numeric images or class indices.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv"),
    ...                           keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    >>> maps = grad_cam(model, np.random.default_rng(0).random((4, 8, 8, 1)), class_index=2)
    >>> maps.shape, maps.dtype, bool(maps.min() >= 0.0 and maps.max() <= 1.0)
    ((4, 8, 8), dtype('float32'), True)
    """
    x, traced, classes, batch_size = _prepare(model, images, class_index, batch_size,
                                              layer_name=layer_name, maps=True)
    out = np.zeros(x.shape[:3], np.float32)
    for rows in _batches(len(x), batch_size):
        batch = tf.constant(x[rows])
        with tf.GradientTape() as tape:
            *maps, logits = _run(traced, batch)
            score = _score(logits, None if classes is None else classes[rows])
        gradients = tape.gradient(score, maps)
        total = 0.0
        for feature_map, gradient in zip(maps, gradients):
            feature_map = tf.cast(feature_map, tf.float32)
            if gradient is None:  # the logits do not depend on this map
                gradient = tf.zeros_like(feature_map)
            weights = tf.reduce_mean(tf.cast(gradient, tf.float32), axis=(1, 2))  # α (B, K)
            cam = tf.nn.relu(tf.einsum("bhwk,bk->bhw", feature_map, weights))
            cam = tf.image.resize(cam[..., None], x.shape[1:3], method="bilinear")[..., 0]
            total += _normalise(cam.numpy())
        out[rows] = total / len(maps)
    return out


@kerasimb_export("kerasimb.inference.input_gradient", serializable=False)
def input_gradient(model, images, class_index=None, batch_size=32):
    """Plain input-gradient saliency (Simonyan et al., 2014): |∂y_c / ∂x|, in [0, 1].

    The absolute gradient of the class logit y_c (before any softmax) with respect to each
    pixel, the largest over the channels, scaled to [0, 1] per image (min-max; a flat map gives
    zeros). It takes the same models as `grad_cam`.

    Args:
        model: a `keras.Model` returning logits, or an `inference.InferenceModel`.
        images: array `(N, H, W, C)` matching the model's input; uint8 images are divided by
            255 (the gradient is with respect to the [0, 1] pixels).
        class_index: `None` (each image's predicted class), an int, or an int array `(N,)`.
            Defaults to `None`.
        batch_size: int >= 1. Defaults to `32`.

    Returns:
        float32 numpy array `(N, H, W)` in [0, 1].

    Raises:
        ValueError: images that do not match the model's input, a bad `class_index`.
        TypeError: a `model` that is not a keras.Model.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2, use_bias=False)])
    >>> model.set_weights([np.array([[1.0, 0.0], [-3.0, 0.0], [0.5, 0.0], [0.0, 0.0]])])
    >>> maps = input_gradient(model, np.zeros((1, 2, 2, 1)), class_index=0)  # |w| / max |w|
    >>> maps[0].astype(float).round(3).tolist()
    [[0.333, 1.0], [0.167, 0.0]]
    """
    x, traced, classes, batch_size = _prepare(model, images, class_index, batch_size)
    out = np.zeros(x.shape[:3], np.float32)
    for rows in _batches(len(x), batch_size):
        batch = tf.constant(x[rows])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            logits = _run(traced, batch)[-1]
            score = _score(logits, None if classes is None else classes[rows])
        gradient = tf.cast(tape.gradient(score, batch), tf.float32)
        out[rows] = _normalise(tf.reduce_max(tf.abs(gradient), axis=-1).numpy())
    return out


def _rgb(image):
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError("Invalid value received for argument `image`. Expected an image (H, W), "
                         "(H, W, 1) or (H, W, 3). Received: image with shape "
                         f"{np.asarray(image).shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return np.clip(image.astype(np.float32), 0.0, 1.0)


@kerasimb_export("kerasimb.inference.overlay", serializable=False)
def overlay(image, heat_map, alpha=0.4):
    """Draws a heat map over its image: `(1 - alpha) · image + alpha · jet(heat_map)`, uint8 RGB.

    Args:
        image: `(H, W)`, `(H, W, 1)` or `(H, W, 3)`, uint8 (0-255) or float in [0, 1] (values
            outside are clipped). Grey images are repeated to RGB.
        heat_map: `(H, W)` values in [0, 1] (e.g. one map of `grad_cam`), coloured with
            matplotlib's `jet` colour map (0 blue, 1 red).
        alpha: float in [0, 1]. Weight of the colour map. Defaults to `0.4`.

    Returns:
        uint8 numpy array `(H, W, 3)`.

    Raises:
        ValueError: shapes that do not fit, heat values outside [0, 1], a bad `alpha`.

    Example:

    >>> import numpy as np
    >>> heat = np.array([[0.0, 1.0]])
    >>> overlay(np.zeros((1, 2), np.uint8), heat, alpha=1.0).tolist()  # jet: blue, then red
    [[[0, 0, 128], [128, 0, 0]]]
    """
    from matplotlib import colormaps

    alpha = check_float(alpha, "alpha", 0.0, 1.0)
    rgb = _rgb(image)
    heat = np.asarray(heat_map, np.float32)
    if heat.shape != rgb.shape[:2]:
        raise ValueError("Invalid value received for argument `heat_map`. Expected a map of the "
                         f"image's height and width {rgb.shape[:2]}. Received: heat_map with "
                         f"shape {heat.shape}")
    if heat.size and not (np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0):
        raise ValueError("Invalid value received for argument `heat_map`. Expected values in "
                         f"[0, 1]. Received: min {np.nanmin(heat):g}, max {np.nanmax(heat):g}")
    colour = colormaps["jet"](heat)[..., :3]
    return np.rint(255.0 * ((1.0 - alpha) * rgb + alpha * colour)).astype(np.uint8)


def _png_path(folder, name):
    name = os.fspath(name)
    relative = os.path.normpath(name)
    if (not name or os.path.isabs(name) or relative == "."
            or relative.split(os.sep)[0] == os.pardir):
        raise ValueError("Invalid value received for argument `names`. Expected names relative "
                         f"to the folder, without `..`. Received: {name!r}")
    return os.path.join(folder, relative + ".png")


@kerasimb_export("kerasimb.inference.save_overlays", serializable=False)
def save_overlays(images, maps, names, folder, alpha=0.4):
    """Writes `overlay(image, map)` of each image as `<folder>/<name>.png`; returns the paths.

    Each file is written atomically (a temporary file moved into place). A name may hold
    sub-folders (`"ward/case_01"`), which are created.

    Args:
        images: `(N, H, W)` or `(N, H, W, C)` images, uint8 or float in [0, 1].
        maps: `(N, H, W)` heat maps in [0, 1] (`grad_cam`, `input_gradient`).
        names: N names, each giving one file `<name>.png`.
        folder: str or path-like, created if missing.
        alpha: float in [0, 1]. Defaults to `0.4`.

    Returns:
        The list of the written paths.

    Raises:
        ValueError: lengths that differ, repeated names, a name leaving the folder, or what
            `overlay` refuses.

    Example:

    >>> import os, tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> paths = save_overlays(np.zeros((2, 4, 4), np.uint8), np.ones((2, 4, 4)), ["a", "b"], folder)
    >>> sorted(os.listdir(folder))
    ['a.png', 'b.png']
    """
    names = [os.fspath(n) for n in names]
    if not len(images) == len(maps) == len(names):
        raise ValueError(f"Invalid value received for argument `names`. Expected one image, map "
                         f"and name each. Received: {len(images)} images, {len(maps)} maps, "
                         f"{len(names)} names")
    paths = [_png_path(os.fspath(folder), name) for name in names]
    if len(set(paths)) != len(paths):
        raise ValueError("Invalid value received for argument `names`. Expected distinct names. "
                         f"Received: {len(paths) - len(set(paths))} repeated")
    for image, heat_map, path in zip(images, maps, paths):
        picture = overlay(image, heat_map, alpha=alpha)
        with atomic_path(path) as tmp:
            Image.fromarray(picture).save(tmp, format="PNG")
    return paths
