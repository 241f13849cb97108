"""Test-time augmentation by flips: average the softmax of an image and its flipped copies.

The flip views are defined here once (`FLIPS`, `check_flips`, `flip_images`) and shared with
`inference.PerturbedPredictor(flips=...)` and the `+perturb` methods.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.images import to_float_tensor
from kerasimb.utils.validation import check_choice, check_int

# The flip views, besides the image itself: mirrored left-right, upside down, or both.
FLIPS = ("horizontal", "vertical", "horizontal_and_vertical")


def check_flips(flips):
    """Returns `flips` as a tuple of distinct names from `FLIPS`.

    Args:
        flips: `None` (no flip), one name, or a sequence of names.

    Raises:
        ValueError: an unknown or repeated name.

    Example:

    >>> check_flips(None), check_flips("vertical"), check_flips(["horizontal", "vertical"])
    ((), ('vertical',), ('horizontal', 'vertical'))
    """
    if flips is None:
        return ()
    flips = (flips,) if isinstance(flips, str) else tuple(flips)
    for flip in flips:
        check_choice(flip, "flips", FLIPS)
    if len(set(flips)) != len(flips):
        raise ValueError(
            "Invalid value received for argument `flips`. Expected each flip at most once. "
            f"Received: flips={flips!r}"
        )
    return flips


def flip_images(images, flip):
    """Returns a batch `(B, H, W, C)` flipped: `"horizontal"` reverses the width axis,
    `"vertical"` the height axis, `"horizontal_and_vertical"` both (a tensor, in graph too).

    Example:

    >>> x = np.arange(4.0).reshape(1, 2, 2, 1)                     # [[0, 1], [2, 3]]
    >>> flip_images(x, "horizontal").numpy()[0, :, :, 0].tolist()
    [[1.0, 0.0], [3.0, 2.0]]
    >>> flip_images(x, "horizontal_and_vertical").numpy()[0, :, :, 0].tolist()
    [[3.0, 2.0], [1.0, 0.0]]
    """
    check_choice(flip, "flip", FLIPS)
    axes = {"horizontal": [2], "vertical": [1], "horizontal_and_vertical": [1, 2]}[flip]
    return tf.reverse(images, axis=axes)


@kerasimb_export("kerasimb.inference.predict_tta", serializable=False)
def predict_tta(model, x, flips=("horizontal",), batch_size=256, from_logits=True):
    """Predicts class probabilities averaged over an image and its flips.

    Galdran et al. (2021) average the predictions of each test image and its horizontally
    flipped copy. For every view (the image itself, then one per entry of `flips`) this computes
    `softmax(model(view))` (or the model's output when `from_logits=False`) and returns the mean
    over the `1 + len(flips)` views.

    Args:
        model: a Keras model (or callable) mapping float32 images in [0, 1] `(B, H, W, C)` to
            logits (or probabilities, with `from_logits=False`) `(B, K)`.
        x: images `(N, H, W, C)`, uint8 (scaled to [0, 1]) or float (passed unchanged).
        flips: names among `"horizontal"`, `"vertical"`, `"horizontal_and_vertical"` (one
            name, a sequence, or `None` / empty for a plain prediction; see `check_flips`).
            Defaults to `("horizontal",)`.
        batch_size: int >= 1. Defaults to `256`.
        from_logits: bool. Whether the model outputs logits. Defaults to `True`.

    Returns:
        float32 numpy array `(N, K)` of probabilities.

    Raises:
        ValueError: an unknown or repeated flip, images that are not `(N, H, W, C)`.

    Example:

    >>> import numpy as np, keras
    >>> model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2, use_bias=False)])
    >>> model.set_weights([np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])])
    >>> x = np.array([[[[2.0], [0.0]], [[0.0], [0.0]]]])          # one bright top-left pixel
    >>> predict_tta(model, x, flips=()).astype(float).round(3).tolist()        # softmax([2, 0])
    [[0.881, 0.119]]
    >>> predict_tta(model, x).astype(float).round(3).tolist()                 # mean with softmax([0, 0])
    [[0.69, 0.31]]
    """
    flips = check_flips(flips)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(
            "Invalid value received for argument `x`. Expected images of shape (N, height, "
            f"width, channels). Received: x with shape {x.shape}"
        )
    outputs = []
    for start in range(0, len(x), batch_size):
        batch = to_float_tensor(x[start:start + batch_size])
        total = 0.0
        for view in (batch, *(flip_images(batch, f) for f in flips)):
            out = tf.cast(tf.convert_to_tensor(model(view, training=False)), tf.float32)
            total += tf.nn.softmax(out, axis=-1) if from_logits else out
        outputs.append(keras.ops.convert_to_numpy(total / (1 + len(flips))))
    if not outputs:
        raise ValueError("Invalid value received for argument `x`. Expected at least one image. Received: 0")
    return np.concatenate(outputs, axis=0).astype(np.float32)
