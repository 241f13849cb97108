"""How a run executes: numeric precision policy, `tf.distribute` strategy and XLA.

Three settings that change how fast a run goes, never what it computes (up to rounding):

- `precision`: the Keras dtype policy while models are built and trained: `"float32"`,
  `"mixed_float16"` (float16 compute, float32 variables, dynamic loss scaling on; for GPUs with
  tensor cores) or `"mixed_bfloat16"` (bfloat16 compute, no loss scaling; for TPUs and recent
  CPUs). `"auto"` picks `"mixed_float16"` when a GPU is visible and `"mixed_bfloat16"` otherwise.
  Models keep a float32 last layer and losses compute in float32 (see DESIGN.md), so outputs,
  losses and metrics are float32 under every policy.
- `distribute`: `"none"` (the default strategy), `"mirrored"` (`tf.distribute.MirroredStrategy`
  over every GPU, or over every logical CPU device when there is no GPU), `"multiworker"`
  (`tf.distribute.MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment
  variable), `"tpu"` (`tf.distribute.TPUStrategy` on the TPU found by
  `tf.distribute.cluster_resolver.TPUClusterResolver`). Models and optimizers are built under
  the strategy's scope; `model.fit` then splits every batch across the replicas, so
  `batch_size` is the global batch size.
- `jit_compile`: `"auto"` (Keras' choice: XLA on a GPU, not on a CPU-only machine nor under a
  distribution strategy), `True` or `False`.

Example:

>>> import keras
>>> from kerasimb.utils import runtime
>>> with runtime.precision_policy("mixed_bfloat16"):
...     keras.config.dtype_policy().name
'mixed_bfloat16'
>>> keras.config.dtype_policy().name
'float32'
>>> runtime.make_strategy("none") is None
True
"""

import contextlib

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("none", "mirrored", "multiworker", "tpu")
JIT_CHOICES = ("auto", True, False)


@kerasimb_export("kerasimb.utils.resolve_precision", serializable=False)
def resolve_precision(precision, name="precision"):
    """Returns the Keras dtype policy name for `precision`.

    Args:
        precision: `None` or `"float32"` (full precision), `"mixed_float16"`,
            `"mixed_bfloat16"`, or `"auto"`: `"mixed_float16"` if TensorFlow sees a GPU,
            else `"mixed_bfloat16"`.
        name: str. The argument name used in error messages.

    Returns:
        One of `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`.

    Raises:
        ValueError: any other value.

    Example:

    >>> resolve_precision(None)
    'float32'
    >>> resolve_precision("mixed_bfloat16")
    'mixed_bfloat16'
    """
    if precision is None:
        return "float32"
    check_choice(precision, name, (*PRECISIONS, "auto"))
    if precision == "auto":
        import tensorflow as tf

        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return precision


@kerasimb_export("kerasimb.utils.precision_policy", serializable=False)
@contextlib.contextmanager
def precision_policy(precision):
    """Context manager: sets the global Keras dtype policy, restores the previous one on exit.

    Models built inside compute in the policy's dtype; the policy in force when a model is
    built is the one it keeps, so build, compile and train inside the block. Under
    `"mixed_float16"`, `model.compile` wraps the optimizer in a `LossScaleOptimizer` (Keras'
    `auto_scale_loss=True`).

    Args:
        precision: see `resolve_precision`.

    Example:

    >>> import keras
    >>> with precision_policy("mixed_float16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.compute_dtype, layer.variable_dtype
    ('float16', 'float32')
    """
    import keras

    policy = resolve_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


@kerasimb_export("kerasimb.utils.make_strategy", serializable=False)
def make_strategy(distribute):
    """Returns the `tf.distribute.Strategy` named by `distribute`, or `None` for `"none"`.

    Args:
        distribute: `None` or `"none"` (no strategy: the default single-device one),
            `"mirrored"` (one replica per GPU, or per logical CPU device when TensorFlow sees
            no GPU: see `tf.config.set_logical_device_configuration`), `"multiworker"`
            (synchronous data parallelism across machines; each machine's `TF_CONFIG`
            environment variable names the cluster and its own task) or `"tpu"`. A
            `tf.distribute.Strategy` instance is returned unchanged.

    Returns:
        A `tf.distribute.Strategy`, or `None`.

    Raises:
        ValueError: an unknown name, or `"tpu"` where no TPU can be found.

    Example:

    >>> make_strategy(None) is None
    True
    >>> make_strategy("mirrored").num_replicas_in_sync >= 1
    True
    """
    import tensorflow as tf

    if distribute is None or isinstance(distribute, tf.distribute.Strategy):
        return distribute
    check_choice(distribute, "distribute", STRATEGIES)
    if distribute == "none":
        return None
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if distribute == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ValueError(
            "Invalid value received for argument `distribute`. Expected a strategy that this "
            f"machine supports; no TPU was found ({error}). Received: distribute='tpu'"
        ) from error
    return tf.distribute.TPUStrategy(resolver)


@kerasimb_export("kerasimb.utils.strategy_scope", serializable=False)
def strategy_scope(strategy):
    """Returns `strategy.scope()`, or a no-op context manager when `strategy` is `None`.

    Example:

    >>> with strategy_scope(None):
    ...     pass
    """
    if strategy is None:
        return contextlib.nullcontext()
    return strategy.scope()


def check_jit_compile(jit_compile):
    """Returns `jit_compile` if it is `"auto"`, `True` or `False`."""
    if not (jit_compile == "auto" and isinstance(jit_compile, str)) and not isinstance(
            jit_compile, bool):
        raise ValueError(
            "Invalid value received for argument `jit_compile`. Expected 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    return jit_compile


@contextlib.contextmanager
def run_context(precision=None, strategy=None):
    """Both contexts at once: the dtype policy, then the strategy's scope."""
    with precision_policy(precision) as policy, strategy_scope(strategy):
        yield policy
