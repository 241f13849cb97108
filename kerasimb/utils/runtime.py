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

Measured on the 2-core CPU this project is developed on (AVX-512 with BF16, TensorFlow 2.21,
Keras 3.15; `benchmarks/quadsnet_throughput.py`, 32x32x1 inputs, batch 32, all settings timed
side by side in one run on a loaded machine, so ratios are rough), training images/s relative
to float32 of the same model:

| model | mixed_bfloat16 | mixed_float16 | XLA (float32) |
|---|---|---|---|
| SmallCNN | 1.10 | 0.17 | 0.55 |
| QuadSNet | 2.28 | 0.16 | 0.16 |
| MobileNetV2 | 0.60 | 0.85 | 0.28 |

XLA was slower for every model here (and for the perturbation, see
`inference.PerturbedPredictor`), so the defaults stay `jit_compile="auto"` (off on a CPU) and
float32; mixed_float16 is for GPUs (TensorFlow's CPU float16 kernels are slow emulation).
`"auto"` precision picks bfloat16 on a CPU, which helped QuadSNet and hurt MobileNetV2 here:
measure before relying on it.

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
import json
import os

import keras
import tensorflow as tf
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("none", "mirrored", "multiworker", "tpu")
JIT_CHOICES = ("auto", True, False)

# One strategy per name and process: two `MirroredStrategy` objects in one process number their
# collective operations from the same keys, and the second one's training steps then fail with
# "Shape mismatch in the collective instance" (seen in TensorFlow 2.21); a
# `MultiWorkerMirroredStrategy` can only be created once per process anyway.
_STRATEGIES = {}


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
        return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    return precision


@kerasimb_export("kerasimb.utils.precision_policy", serializable=False)
@contextlib.contextmanager
def precision_policy(precision):
    """Context manager: sets the global Keras dtype policy, restores the previous one on exit.

    Models built inside compute in the policy's dtype; the policy in force when a model is
    built is the one it keeps, so build, compile and train inside the block.
    `keras.backend.clear_session()` resets the global policy to float32 (Keras keeps it in its
    global state), so clear the session before entering the block, not inside it (Keras
    Tuner clears it between trials: `tuning.ImbalanceHyperModel(mixed_precision=)` re-sets it). Under
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
    policy = resolve_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


def _check_single_worker(tf_config=None):
    """Raises `ValueError` when `TF_CONFIG` (the environment variable, or `tf_config`) names
    more than one task: Keras 3.15's `fit` cannot train under several workers
    (keras-team/keras#20585); the message says what works instead.

    >>> _check_single_worker('{"cluster": {"worker": ["localhost:1"]}, "task": {"index": 0}}')
    >>> _check_single_worker('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"index": 0}}')
    Traceback (most recent call last):
    ...
    ValueError: Invalid value received for argument `distribute`. ...
    """
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    try:
        cluster = json.loads(text).get("cluster", {}) if text.strip() else {}
    except (ValueError, AttributeError):
        raise ValueError("Invalid value received for the environment variable `TF_CONFIG`. "
                         f"Expected JSON with a `cluster` and a `task`. Received: {text!r}"
                         ) from None
    tasks = (sum(len(addresses) for addresses in cluster.values())
             if isinstance(cluster, dict) else 0)
    if tasks > 1:
        raise ValueError(
            "Invalid value received for argument `distribute`. 'multiworker' trains on one "
            "machine only: TF_CONFIG names "
            f"{tasks} tasks, and Keras 3.15's fit cannot train under several workers "
            "(keras-team/keras#20585). Use 'mirrored' for every GPU of one machine, and "
            "`--shard K/N` to spread a comparison's runs over machines. Received: "
            "distribute='multiworker'")


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

    `"mirrored"` and `"multiworker"` are created once per process and then reused (a second
    `MirroredStrategy` in the same process clashes with the first one's collective keys).
    `"multiworker"` without a `TF_CONFIG` environment variable (or one naming a single task) is a
    single worker: a `MultiWorkerMirroredStrategy` over this machine's local devices (one
    replica per GPU, or the CPU), which trains like one device. A `TF_CONFIG` naming several
    tasks is refused at once: Keras 3 (3.15, TensorFlow 2.21) `fit`, which every method trains
    with, fails before the first step under several workers ("Attempt to convert a value
    (PerReplica...)"; its symbolic build reduces a data batch across workers:
    keras-team/keras#20585). A `MultiWorkerMirroredStrategy` instance is passed through
    unchanged (how the tests watch for a Keras release that fixes it).

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
    if distribute is None or isinstance(distribute, tf.distribute.Strategy):
        return distribute
    check_choice(distribute, "distribute", STRATEGIES)
    if distribute == "none":
        return None
    if distribute in _STRATEGIES:
        return _STRATEGIES[distribute]
    if distribute == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    elif distribute == "multiworker":
        _check_single_worker()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    if distribute in ("mirrored", "multiworker"):
        _STRATEGIES[distribute] = strategy
        return strategy
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


# --- Inside a replica: what custom train steps and contrastive losses need ------------------


def _run_as_python(fn):
    """Marks `fn` so that AutoGraph calls it as plain Python inside a `tf.function` (the mark
    `tf.autograph.experimental.do_not_convert` sets, without wrapping `fn`). These helpers have
    no tensor-dependent Python control flow; AutoGraph's conversion of them failed
    intermittently in long test processes ("tf__replicas_in_sync() takes 0 positional
    arguments but 1 was given")."""
    fn.autograph_info__ = frozenset()
    return fn


@_run_as_python
def _replica_context():
    """The current replica context when a strategy with more than one replica runs it."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


@kerasimb_export("kerasimb.utils.replicas_in_sync", serializable=False)
@_run_as_python
def replicas_in_sync():
    """R: the number of replicas computing the current step, 1 outside a multi-replica step.

    Inside `model.fit` under a `tf.distribute` strategy with R replicas, `train_step` runs once
    per replica on that replica's slice of the global batch (the global batch divided by R) and
    the optimizer **sums** the replicas' gradients. A custom `train_step` therefore divides a
    per-replica loss by R (`scale_for_replicas`), as Keras' own compiled losses do.

    Returns:
        int >= 1. `num_replicas_in_sync` of the current replica context; 1 in a cross-replica
        context (e.g. eager code inside `strategy.scope()`) or without a strategy.

    Example:

    >>> replicas_in_sync()
    1
    """
    context = _replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


@kerasimb_export("kerasimb.utils.scale_for_replicas", serializable=False)
@_run_as_python
def scale_for_replicas(value):
    """`value / R` inside a step of R > 1 replicas (see `replicas_in_sync`), else `value`.

    A per-replica loss scaled this way has gradients whose sum over the replicas (what the
    optimizer applies) is the gradient of the loss on the global batch, when each replica's
    value is its slice's mean or every replica holds the same global-batch value.

    Example:

    >>> float(scale_for_replicas(2.0))
    2.0
    """
    return _rescale_for_replicas(value, divide=True)


@kerasimb_export("kerasimb.utils.unscale_for_replicas", serializable=False)
@_run_as_python
def unscale_for_replicas(value):
    """`value · R` inside a step of R > 1 replicas: undoes `scale_for_replicas` for logging.

    Keras' compiled loss (`Model.compute_loss`) already returns the per-replica loss divided by
    R under a strategy; this gives back the replica's own mean.

    Example:

    >>> float(unscale_for_replicas(2.0))
    2.0
    """
    return _rescale_for_replicas(value, divide=False)


@_run_as_python
def _rescale_for_replicas(value, divide):
    """`value / R` (`divide=True`) or `value · R` inside a step of R > 1 replicas, else `value`."""
    replicas = replicas_in_sync()
    if replicas == 1:
        return value
    value = ops.convert_to_tensor(value)
    return value * ops.cast(1.0 / replicas if divide else replicas, value.dtype)


@kerasimb_export("kerasimb.utils.global_batch", serializable=False)
@_run_as_python
def global_batch(*tensors):
    """All-gathers per-replica tensors along axis 0 into the global batch (replica order).

    Inside a step of R > 1 replicas each tensor `(b, ...)` becomes `(R·b, ...)`: replica 0's
    rows, then replica 1's, ... — the order of the global batch that `fit` split, so a loss
    computed on the gathered tensors is the loss of the global batch, identical on every
    replica. Gradients flow back through the gather (the replicas' upstream gradients are
    summed and every replica keeps its own rows' part), so divide such a loss by R
    (`scale_for_replicas`) before differentiating. Replicas may hold different numbers of
    rows (an uneven last batch). Outside a multi-replica step (no strategy, one
    replica, a cross-replica context) the tensors are returned unchanged.

    Args:
        *tensors: tensors with the batch on axis 0 (any dtype).

    Returns:
        The gathered tensor, or a tuple of them when several are given.

    Example:

    >>> import numpy as np
    >>> global_batch(np.zeros((2, 3), "float32")).shape
    (2, 3)
    """
    context = _replica_context()
    if context is not None:
        tensors = _all_gather(context, tensors)
    return tensors[0] if len(tensors) == 1 else tensors


@_run_as_python
def _all_gather(context, tensors):
    """All-gather along axis 0 built from float32 SUM all-reduces only.

    Every replica writes its rows (padded to the largest replica batch) into its own slot of a
    zero buffer `(R, b_max, ...)`; a SUM all-reduce fills every slot on every replica, and the
    padding rows are dropped. The gradient is TensorFlow's gradient of a SUM all-reduce (the
    SUM all-reduce of the upstream gradients), of which each replica keeps its own slot.
    (`ReplicaContext.all_gather` mixes int32 shape gathers with float ones and its gradient
    failed inside `fit` under `MirroredStrategy` in TensorFlow 2.21.) Integer tensors travel
    as float32 (exact below 2**24).
    """
    replicas = context.num_replicas_in_sync
    slot = tf.one_hot(context.replica_id_in_sync_group, replicas, dtype=tf.float32)
    size = tf.cast(tf.shape(tensors[0])[0], tf.float32)
    sizes = tf.cast(context.all_reduce(tf.distribute.ReduceOp.SUM, slot * size), tf.int32)
    largest = tf.reduce_max(sizes)
    buffers, dtypes = [], []
    for t in tensors:
        t = tf.convert_to_tensor(t)
        dtypes.append(t.dtype)
        t = tf.cast(t, tf.float32)
        pad = [[0, largest - tf.shape(t)[0]]] + [[0, 0]] * (len(t.shape) - 1)
        t = tf.pad(t, pad)
        buffers.append(tf.reshape(slot, [replicas] + [1] * len(t.shape)) * t[None])
    reduced = context.all_reduce(tf.distribute.ReduceOp.SUM, buffers)
    valid = tf.sequence_mask(sizes, largest)  # (R, b_max)
    return tuple(tf.cast(tf.boolean_mask(r, valid), d) for r, d in zip(reduced, dtypes))


@kerasimb_export("kerasimb.utils.with_data_sharding", serializable=False)
def with_data_sharding(dataset):
    """Returns `dataset` with the `tf.data` auto-shard policy `DATA` (for multi-worker runs).

    Under `MultiWorkerMirroredStrategy`, `fit` shards the input per worker. kerasimb's training
    pipelines are infinite random samplers built from in-memory arrays or file lists (no file
    dataset to shard by FILE), so they shard by DATA: every worker runs the same seeded sampler,
    `fit` splits each global batch into the workers' parts and every worker keeps its own part.
    The global batches are then exactly those of a single machine with the same seed, so the
    class distribution of every sampler (class-balanced, square-root, Balanced-MixUp, ...) is
    kept; the price is that every worker draws (but does not decode or train on) the whole
    global batch. (`OFF` with a different seed per worker would draw independent per-worker
    batches: the right distribution only in expectation, and other batches than one machine.)
    Under `MirroredStrategy` (one worker) the policy has no effect: `fit` splits each global
    batch across the local replicas.

    Example:

    >>> import tensorflow as tf
    >>> ds = with_data_sharding(tf.data.Dataset.range(4))
    >>> policy = ds.options().experimental_distribute.auto_shard_policy
    >>> policy == tf.data.experimental.AutoShardPolicy.DATA
    True
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
