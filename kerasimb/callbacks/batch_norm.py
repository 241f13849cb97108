"""Recompute BatchNormalization moving statistics as exact population averages ("precise BN")."""

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.images import to_float_images
from kerasimb.utils.validation import check_choice, check_int

WHEN = ("train_end", "epoch_end")


def batch_norm_layers(model, include_frozen=False):
    """Every `keras.layers.BatchNormalization` inside `model`, nested models and layers included.

    Args:
        model: a `keras.Model` or layer.
        include_frozen: bool. Also return layers with `trainable=False` (whose moving statistics
            training never updates). Defaults to `False`.

    Returns:
        A list of layers, each once, in the order Keras tracks them.
    """
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and id(layer) not in seen:
            seen.add(id(layer))
            if include_frozen or layer.trainable:
                found.append(layer)
    return found


def _batches(data, batch_size, num_batches, seed):
    """Yields float32 model inputs from an array (shuffled, scaled like the pipelines) or tf.data."""
    if isinstance(data, np.ndarray) or isinstance(data, (list, tuple)):
        x = np.asarray(data)
        if x.ndim < 2 or len(x) == 0:
            raise ValueError(
                "Invalid value received for argument `data`. Expected a non-empty array of "
                f"inputs (N, ...) or a tf.data.Dataset. Received: data with shape {x.shape}"
            )
        order = np.arange(len(x)) if seed is None else np.random.default_rng(seed).permutation(len(x))
        count = 0
        for start in range(0, len(x), batch_size):
            if num_batches is not None and count >= num_batches:
                return
            batch = x[order[start:start + batch_size]]
            yield to_float_images(batch)
            count += 1
        return
    if not hasattr(data, "__iter__"):
        raise TypeError(
            "Invalid type received for argument `data`. Expected an array of inputs or a "
            f"tf.data.Dataset of batches. Received: data={type(data).__name__}"
        )
    count = 0
    for element in data:
        if num_batches is not None and count >= num_batches:
            return
        yield element[0] if isinstance(element, (tuple, list)) else element
        count += 1


@kerasimb_export("kerasimb.callbacks.recalibrate_batch_norm", serializable=False)
def recalibrate_batch_norm(model, data, batch_size=32, num_batches=None, seed=0,
                           include_frozen=False):
    """Sets every BatchNormalization's moving mean/variance to its population statistics.

    BatchNormalization normalises a training batch with the batch's own statistics, and at
    inference with moving averages updated by `moving = momentum * moving + (1 - momentum) *
    batch` after every training step. With momentum 0.99 (QuadSNet's paper) or 0.999
    (keras.applications MobileNetV2/ResNet50), the moving averages remember the last ~100 or
    ~1000 steps: after a few epochs on a small training set (17 steps an epoch on BreastMNIST)
    they still carry the random initialisation's statistics and lag the weights, and the model
    evaluated with them can predict one class whatever the input although it classifies well
    with batch statistics. This function replaces them by the exact population statistics of
    the current weights (the "precise BN" of Wu and Johnson, "Rethinking 'Batch' in BatchNorm",
    arXiv:2105.07576): `model(x, training=False)` is run over the batches of `data`, with every
    selected BatchNormalization layer computing (and normalising with) the statistics of its
    batch as in training, Dropout and other layers in inference mode; for each layer, the mean
    and the (biased, as Keras uses) variance of its input over all pixels of all batches are
    accumulated exactly (float64, Chan et al.'s pairwise update, so batches of unequal size
    weigh by their size), then assigned to `moving_mean` / `moving_variance`. No trainable
    weight, optimizer state or momentum is changed. Frozen layers (`trainable=False`, e.g. a
    fine-tuned pre-trained backbone) keep their statistics unless `include_frozen=True`.

    Args:
        model: a `keras.Model` (functional, sequential or subclassed; nested models and layers
            holding BatchNormalization sublayers are searched).
        data: the training inputs: an array `(N, ...)` (uint8 scaled to [0, 1] like the
            pipelines, float passed unchanged), batched `batch_size` at a time in a seeded
            random order; or a `tf.data.Dataset` / iterable of batches `x` or `(x, y, ...)`.
        batch_size: int >= 1. Batch size for an array `data` (use the training batch size: the
            upstream layers are normalised with batch statistics). Defaults to `32`.
        num_batches: `None` (all of `data`) or int >= 1, the most batches to read.
            Defaults to `None`.
        seed: int >= 0 or `None` (the array's own order). Shuffles an array `data`.
            Defaults to `0`.
        include_frozen: bool. Also recalibrate layers with `trainable=False`. Defaults to `False`.

    Returns:
        The number of BatchNormalization layers recalibrated.

    Raises:
        ValueError: empty `data` or a bad argument value.
        TypeError: `data` neither an array nor an iterable of batches.

    Example:

    >>> import numpy as np
    >>> bn = keras.layers.BatchNormalization(momentum=0.99)
    >>> model = keras.Sequential([keras.Input((2,)), bn])
    >>> recalibrate_batch_norm(model, np.array([[1.0, 2.0], [3.0, 6.0]]))
    1
    >>> [round(float(v), 4) for v in bn.moving_mean.numpy()]
    [2.0, 4.0]
    >>> [round(float(v), 4) for v in bn.moving_variance.numpy()]
    [1.0, 4.0]
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if num_batches is not None:
        num_batches = check_int(num_batches, "num_batches", minimum=1)
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
    layers = batch_norm_layers(model, include_frozen=include_frozen)
    if not layers:
        return 0
    # Per layer: [count, mean (float64), M2 (float64)] over its reduction axes.
    state = {id(layer): [0, None, None] for layer in layers}

    def patched(layer, original):
        def call(inputs, training=None, mask=None):
            x = keras.ops.cast(inputs, "float32")
            axis = layer.axis % len(x.shape)
            axes = [i for i in range(len(x.shape)) if i != axis]
            mean, var = keras.ops.moments(x, axes=axes)
            n = int(np.prod([x.shape[i] for i in axes]))
            mean = keras.ops.convert_to_numpy(mean).astype(np.float64)
            var = keras.ops.convert_to_numpy(var).astype(np.float64)
            entry = state[id(layer)]
            if entry[1] is None:
                entry[:] = [n, mean, var * n]
            else:
                total = entry[0] + n
                delta = mean - entry[1]
                entry[1] = entry[1] + delta * (n / total)
                entry[2] = entry[2] + var * n + delta**2 * (entry[0] * n / total)
                entry[0] = total
            # Normalise with the batch's statistics, as in training (the moving statistics this
            # also updates are overwritten below).
            return original(inputs, training=True, mask=mask)

        return call

    originals = {}
    try:
        for layer in layers:
            originals[id(layer)] = (layer, layer.call)
            object.__setattr__(layer, "call", patched(layer, layer.call))
        saw_batch = False
        for x in _batches(data, batch_size, num_batches, seed):
            model(x, training=False)
            saw_batch = True
        if not saw_batch:
            raise ValueError(
                "Invalid value received for argument `data`. Expected at least one batch. "
                "Received: an empty dataset"
            )
    finally:
        for layer, _ in originals.values():
            layer.__dict__.pop("call", None)
    for layer in layers:
        count, mean, m2 = state[id(layer)]
        if mean is None:  # a layer the forward pass never reached
            continue
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign((m2 / count).astype(layer.moving_variance.dtype))
    return len(layers)


@kerasimb_export("kerasimb.callbacks.RecalibrateBatchNorm", serializable=False)
class RecalibrateBatchNorm(keras.callbacks.Callback):
    """Recomputes BatchNormalization moving statistics from the training data during `fit`.

    Calls `recalibrate_batch_norm(self.model, data, ...)` (see it for the method and why): at
    the end of training (`when="train_end"`, the cheapest: one forward pass over `data`), or
    after every epoch (`when="epoch_end"`), then before that epoch's validation pass, so the
    validation metrics `fit` logs, and model selection on them, see the recalibrated statistics
    too. The trainable weights and the optimizer are untouched, so training itself runs exactly
    as without the callback; only the moving statistics that inference uses change.

    Why: with few training steps (a small data set, a few epochs) the moving averages of a
    BatchNormalization with momentum 0.99 or 0.999 lag the weights; a QuadSNet trained 3 epochs
    on PneumoniaMNIST scored 0.625 test accuracy (all one class) with its moving averages and
    0.899 with batch statistics. Lowering the momentum (QuadSNet's `momentum`) shortens the lag
    but changes training's averaging; this callback leaves training as the paper has it.

    Args:
        data: the training inputs, as `recalibrate_batch_norm`'s `data` (an array `(N, ...)`,
            or a `tf.data.Dataset` of batches).
        batch_size: int >= 1. Batch size for an array `data`. Defaults to `32`.
        num_batches: `None` (all of `data`) or int >= 1. Defaults to `None`.
        when: `"train_end"` or `"epoch_end"`. Defaults to `"train_end"`.
        seed: int >= 0 or `None`. Shuffles an array `data`. Defaults to `0`.
        include_frozen: bool. Also recalibrate layers with `trainable=False`. Defaults to `False`.

    Attributes:
        calls: the number of recalibrations done so far.

    Example:

    >>> import numpy as np
    >>> callback = RecalibrateBatchNorm(np.zeros((8, 4, 4, 1)), when="epoch_end")
    >>> callback.when, callback.calls
    ('epoch_end', 0)
    """

    def __init__(self, data, batch_size=32, num_batches=None, when="train_end", seed=0,
                 include_frozen=False):
        super().__init__()
        self.when = check_choice(when, "when", WHEN)
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.num_batches = None if num_batches is None else check_int(num_batches, "num_batches", minimum=1)
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)
        self.data = data
        self.include_frozen = bool(include_frozen)
        self.calls = 0
        self._fitting = False
        self._done_this_epoch = False

    def _recalibrate(self):
        recalibrate_batch_norm(self.model, self.data, batch_size=self.batch_size,
                               num_batches=self.num_batches, seed=self.seed,
                               include_frozen=self.include_frozen)
        self.calls += 1

    def on_train_begin(self, logs=None):
        self._fitting = True

    def on_epoch_begin(self, epoch, logs=None):
        self._done_this_epoch = False

    def on_test_begin(self, logs=None):
        # Inside fit, validation runs after the epoch's last training step, before on_epoch_end.
        if self._fitting and self.when == "epoch_end" and not self._done_this_epoch:
            self._recalibrate()
            self._done_this_epoch = True

    def on_epoch_end(self, epoch, logs=None):
        if self.when == "epoch_end" and not self._done_this_epoch:
            self._recalibrate()
            self._done_this_epoch = True

    def on_train_end(self, logs=None):
        self._fitting = False
        if self.when == "train_end":
            self._recalibrate()
