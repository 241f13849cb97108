"""Class-aware sampling: p_j = n_j^q / sum_k n_k^q (instance q=1, square-root q=1/2, class q=0).

The pipelines here draw a whole batch of indices at once: class ids from a categorical
distribution over the classes (stateless, seeded by `(seed, step)`), then an offset drawn
uniformly within each class, then one gather from an index table sorted by class. Memory is one
copy of the images plus `O(N)` int64 indices; no per-class copy of the images is made. With
file-backed images (`ImageFiles`) memory is `O(N)` paths and indices: the pipeline draws the
indices first, then reads and decodes only the drawn files, in parallel. The class
probabilities live in a `SamplingWeights`, which the pipeline reads for every batch: either a
`tf.Variable` that the user assigns (taking effect a few prefetched batches later), or a per-epoch
schedule looked up by the batch's step index, `row = min(step // steps_per_epoch, last)`, so that
progressive sampling and deferred re-sampling change the classes exactly at the epoch boundary,
the batches depend only on `(seed, step)` (a resumed run that skips the trained batches sees the
same ones), and neither the dataset, the model nor the compiled train step is rebuilt.

References:
    Galdran et al., "Balanced-MixUp for Highly Imbalanced Medical Image Classification",
    MICCAI 2021, https://arxiv.org/abs/2109.09850 (q-power sampling, Eq. 1).
    Kang et al., "Decoupling Representation and Classifier for Long-Tailed Recognition",
    ICLR 2020, https://arxiv.org/abs/1910.09217 (q-power and progressive-balanced sampling).
"""

import numpy as np
import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.data.augment import prepare_batch, resolve_augment
from kerasimb.data.image_files import ImageFiles
from kerasimb.utils.validation import (
    check_choice,
    check_class_counts,
    check_float,
    check_images_labels,
    check_int,
    check_labels,
)


@kerasimb_export("kerasimb.data.class_probabilities", serializable=False)
def class_probabilities(class_counts, q=1.0, convention="paper"):
    """Returns the class-sampling probabilities p_j = n_j^q / sum_k n_k^q.

    `q = 1` is instance-based sampling (classes drawn as often as they occur), `q = 0`
    class-based sampling (every class equally often), `q = 1/2` square-root sampling (Galdran
    et al., 2021, Eq. 1; Kang et al., 2020). Values of `q` outside [0, 1] are allowed (`q < 0`
    favours the rare classes beyond balance).

    The authors' public Balanced-MixUp code applies the exponent the other way round
    (weights n_j^(1-q), so its `q = 0` is instance sampling). The paper's convention is the
    default; `convention="code"` reproduces the code's.

    Args:
        class_counts: list of int > 0, training examples per class.
        q: float. The exponent. Defaults to `1.0`.
        convention: `"paper"` (weights n_j^q) or `"code"` (weights n_j^(1-q)).
            Defaults to `"paper"`.

    Returns:
        float64 numpy array `(num_classes,)` summing to 1.

    Raises:
        ValueError: a class with no examples, fewer than two classes, a non-finite `q` or an
            unknown `convention`.

    Example:

    >>> class_probabilities([8, 2], q=1.0).tolist()
    [0.8, 0.2]
    >>> class_probabilities([9, 1], q=0.5).round(4).tolist()
    [0.75, 0.25]
    >>> class_probabilities([8, 2], q=0.0).tolist()
    [0.5, 0.5]
    >>> class_probabilities([8, 2], q=0.0, convention="code").tolist()
    [0.8, 0.2]
    """
    counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    q = check_float(q, "q")
    check_choice(convention, "convention", ("paper", "code"))
    exponent = q if convention == "paper" else 1.0 - q
    # In log space (q log n - logsumexp), so a large |q| gives the limiting distribution (all mass
    # on the largest or smallest classes) instead of inf / inf = NaN.
    # The direct form is kept where it is finite, so the usual q give exactly the old values.
    with np.errstate(over="ignore", under="ignore"):
        weights = counts**exponent
    total = weights.sum()
    if not (np.all(np.isfinite(weights)) and np.isfinite(total) and total > 0):
        logits = exponent * np.log(counts)
        weights = np.exp(logits - logits.max())
        total = weights.sum()
    probabilities = weights / total
    if not np.all(np.isfinite(probabilities)):  # unreachable for finite q; never pass NaN on
        raise ValueError(
            "Invalid value received for argument `q`. Expected a q giving finite class "
            f"probabilities. Received: q={q} for class_counts={counts.astype(int).tolist()}, "
            f"which gives {probabilities.tolist()}; use a smaller |q|")
    return probabilities


@kerasimb_export("kerasimb.data.SamplingWeights", serializable=False)
class SamplingWeights:
    """Class-sampling probabilities held in a `tf.Variable` that sampling pipelines read.

    Pass it as `q=` to `sampled_dataset` (or to `two_view_dataset`); assigning new
    probabilities (`set_probabilities`, `set_q`, `set_progress`) changes the classes drawn by the
    next batches of a running pipeline (and of a running `fit`), without rebuilding anything;
    batches already prepared by `prefetch` (a few) keep the previous probabilities.

    `set_schedule(table, steps_per_epoch)` instead fixes the probabilities of every epoch in
    advance: the pipeline draws batch `step` (counted from the pipeline's first batch) with row
    `min(step // steps_per_epoch, len(table) - 1)`, so there is no prefetch lag and the batches
    depend only on `(seed, step)`. `callbacks.ProgressiveSampling` and
    `callbacks.DeferredResampling` set such a schedule. Assigning probabilities with the
    `set_*` methods above clears the schedule.

    Args:
        class_counts: list of int > 0, training examples per class.
        q: float. Initial exponent, see `class_probabilities`. Defaults to `1.0`.

    Attributes:
        class_counts: list of int.
        variable: float32 `tf.Variable` `(num_classes,)`, the current probabilities (read by
            the pipelines while no schedule is set).

    Example:

    >>> w = SamplingWeights([8, 2], q=1.0)
    >>> w.probabilities.round(3).tolist()
    [0.8, 0.2]
    >>> w.set_progress(0.5)            # halfway from instance (q=1) to class (q=0) sampling
    >>> w.probabilities.round(3).tolist()
    [0.65, 0.35]
    >>> w.set_q(0.0)
    >>> w.probabilities.round(3).tolist()
    [0.5, 0.5]
    >>> w.set_schedule([[0.8, 0.2], [0.5, 0.5]], steps_per_epoch=10)
    >>> [w.probabilities_at(step).numpy().astype(float).round(3).tolist() for step in (9, 10, 99)]
    [[0.8, 0.2], [0.5, 0.5], [0.5, 0.5]]
    """

    def __init__(self, class_counts, q=1.0):
        self.class_counts = check_class_counts(class_counts)
        self.variable = tf.Variable(
            class_probabilities(self.class_counts, q).astype(np.float32),
            trainable=False, dtype=tf.float32, name="class_sampling_probabilities",
        )
        # Per-epoch schedule (rows of probabilities) and its steps per epoch; 0 = no schedule.
        self._schedule = tf.Variable(
            np.zeros((1, self.num_classes), np.float32), trainable=False, dtype=tf.float32,
            shape=tf.TensorShape([None, self.num_classes]), name="class_sampling_schedule",
        )
        self._schedule_steps = tf.Variable(0, trainable=False, dtype=tf.int64,
                                           name="class_sampling_schedule_steps")

    @property
    def num_classes(self):
        return len(self.class_counts)

    @property
    def probabilities(self):
        """The current probabilities as a float64 numpy array."""
        return self.variable.numpy().astype(np.float64)

    def _check_probabilities(self, probabilities, name="probabilities"):
        p = np.asarray(probabilities, dtype=np.float64)
        if p.shape != (self.num_classes,) or not np.all(np.isfinite(p)) or np.any(p < 0):
            raise ValueError(
                f"Invalid value received for argument `{name}`. Expected "
                f"{self.num_classes} finite non-negative values. Received: {name}={probabilities!r}"
            )
        if abs(p.sum() - 1.0) > 1e-4:
            raise ValueError(
                f"Invalid value received for argument `{name}`. Expected values summing to "
                f"1. Received: {name}={p.tolist()} (sum {p.sum():.6g})"
            )
        return p

    def assign(self, probabilities):
        """Assigns the variable without touching the schedule (for the schedule callbacks,
        which keep it equal to the current epoch's row)."""
        self.variable.assign(self._check_probabilities(probabilities).astype(np.float32))

    def set_probabilities(self, probabilities):
        """Assigns new class probabilities (non-negative, finite, summing to 1 within 1e-4)
        and clears the schedule."""
        self.assign(probabilities)
        self.clear_schedule()

    def set_q(self, q):
        """Sets p_j = n_j^q / sum_k n_k^q (and clears the schedule)."""
        self.set_probabilities(class_probabilities(self.class_counts, q))

    def progress_probabilities(self, t):
        """Returns p = (1 - t) p_instance + t p_class, t in [0, 1] (float64 numpy array)."""
        t = check_float(t, "t", 0.0, 1.0)
        return (1.0 - t) * class_probabilities(self.class_counts, 1.0) + t * class_probabilities(
            self.class_counts, 0.0
        )

    def set_progress(self, t):
        """Sets progressive-balanced probabilities p = (1 - t) p_instance + t p_class, t in [0, 1]
        (Kang et al., 2020, with t = epoch / total epochs), and clears the schedule."""
        self.set_probabilities(self.progress_probabilities(t))

    def set_schedule(self, table, steps_per_epoch):
        """Fixes the probabilities of every epoch: batch `step` of a pipeline uses row
        `min(step // steps_per_epoch, len(table) - 1)` of `table`.

        Args:
            table: `(num_epochs, num_classes)` probabilities, each row summing to 1 (the last
                row holds for all later epochs).
            steps_per_epoch: int >= 1. Batches per epoch (`fit`'s `steps_per_epoch`).

        Raises:
            ValueError: a bad row, an empty table or `steps_per_epoch` < 1.
        """
        steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", minimum=1)
        rows = np.asarray(table, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] != self.num_classes:
            raise ValueError(
                "Invalid value received for argument `table`. Expected a non-empty "
                f"(num_epochs, {self.num_classes}) array. Received: table={table!r}"
            )
        for row in rows:
            self._check_probabilities(row, "table")
        self._schedule.assign(rows.astype(np.float32))
        self._schedule_steps.assign(steps_per_epoch)

    def clear_schedule(self):
        """Removes the schedule: the pipelines read `variable` again."""
        self._schedule_steps.assign(0)

    @property
    def schedule(self):
        """`(table float64 (num_epochs, num_classes), steps_per_epoch)`, or `None`."""
        steps = int(self._schedule_steps.numpy())
        if steps == 0:
            return None
        return self._schedule.numpy().astype(np.float64), steps

    def epoch_probabilities(self, epoch):
        """The schedule's row for `epoch` (the current probabilities without a schedule)."""
        schedule = self.schedule
        if schedule is None:
            return self.probabilities
        return schedule[0][min(epoch, len(schedule[0]) - 1)]

    def probabilities_at(self, step):
        """The float32 probabilities `(num_classes,)` a pipeline uses for batch `step` (graph
        compatible): the schedule's row for the step's epoch, or `variable` without one."""
        step = tf.cast(step, tf.int64)
        steps = self._schedule_steps.read_value()

        def scheduled():
            table = self._schedule.read_value()
            last = tf.cast(tf.shape(table)[0] - 1, tf.int64)
            row = tf.minimum(step // tf.maximum(steps, 1), last)
            return tf.gather(table, row)

        return tf.cond(steps > 0, scheduled, self.variable.read_value)

    def __repr__(self):
        return f"SamplingWeights(class_counts={self.class_counts}, probabilities={self.probabilities.round(4).tolist()})"


def resolve_seed(seed):
    """Returns an int seed: `seed` itself, or a fresh random one for `None`."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return check_int(seed, "seed", minimum=0)


class IndexTable:
    """Training indices sorted by class with per-class offsets: O(N) memory, no image copies.

    `draw(probabilities, batch_size, seed)` returns `(indices, classes)` of one batch: class ids
    from the categorical distribution `probabilities`, then an index drawn uniformly among that
    class's examples.
    """

    def __init__(self, y, num_classes):
        y = np.asarray(y, dtype=np.int64)
        counts = np.bincount(y, minlength=num_classes)
        self.class_counts = counts.tolist()
        self.order = tf.constant(np.argsort(y, kind="stable").astype(np.int64))
        self.starts = tf.constant(np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64))
        self.counts = tf.constant(counts.astype(np.int64))

    def draw(self, probabilities, batch_size, seed):
        class_seed, offset_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        logits = tf.math.log(tf.convert_to_tensor(probabilities, tf.float32))[None, :]
        classes = tf.random.stateless_categorical(logits, batch_size, class_seed, dtype=tf.int64)[0]
        sizes = tf.gather(self.counts, classes)
        u = tf.random.stateless_uniform((batch_size,), offset_seed, dtype=tf.float64)
        offsets = tf.minimum(tf.cast(tf.floor(u * tf.cast(sizes, tf.float64)), tf.int64), sizes - 1)
        return tf.gather(self.order, tf.gather(self.starts, classes) + offsets), classes


def check_pipeline_inputs(x, y, num_classes, batch_size):
    """Validates the common pipeline arguments; returns `(x, y, num_classes, batch_size, counts)`.

    Every class in `[0, num_classes)` must have at least one example. `x` is an image array
    or an `ImageFiles` (only its length is checked: no file is read).
    """
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", minimum=2)
    if isinstance(x, ImageFiles):
        y = check_labels(y, num_classes)
        if len(x) != len(y):
            raise ValueError(
                "Expected `x` and `y` to hold the same number of examples. "
                f"Received: {len(x)} image files and {len(y)} labels"
            )
    else:
        x, y = check_images_labels(x, y, num_classes)
    if len(y) == 0:
        raise ValueError("Invalid value received for argument `x`. Expected at least one example. Received: 0")
    if num_classes is None:
        num_classes = max(int(y.max()) + 1, 2)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    counts = check_class_counts(np.bincount(y, minlength=num_classes).tolist(), num_classes,
                                name="class counts of `y`")
    return x, y, num_classes, batch_size, counts


def map_batches(ds, draw, finish, x):
    """Builds batches from the elements of `ds`: `draw` picks the indices, `finish` the output.

    `draw(*element) -> (index (B,), state)`; `finish(images (B, H, W, C), state) -> batch`,
    where `images` are `x[index]` as stored (uint8 or float). In-memory `x` is gathered inside
    one `map` call. For an `ImageFiles`, the indices are drawn first and only the drawn files
    are read and decoded (in parallel), then `finish` runs: the same indices give the same
    images as the decoded array `np.asarray(x)` would.
    """
    if isinstance(x, ImageFiles):
        ds = ds.map(draw, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = x.gather_batches(ds)
        ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        images = tf.convert_to_tensor(x)

        def make_batch(*element):
            index, state = draw(*element)
            return finish(tf.gather(images, index), state)

        ds = ds.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def step_seeds(seed, step, num):
    """Returns `num` independent stateless seeds `(num, 2)` for batch `step` of a pipeline."""
    return tf.random.experimental.stateless_split(
        tf.stack([tf.constant(seed, tf.int64), tf.cast(step, tf.int64)]), num
    )


def resolve_weights(q, counts):
    """Returns a `SamplingWeights` from a float `q` or an existing `SamplingWeights`."""
    if isinstance(q, SamplingWeights):
        if q.class_counts != counts:
            raise ValueError(
                "Invalid value received for argument `q`. Expected `SamplingWeights` built from "
                f"the class counts of `y`, {counts}. Received: {q!r}"
            )
        return q
    return SamplingWeights(counts, check_float(q, "q"))


@kerasimb_export("kerasimb.data.sampled_dataset", serializable=False)
def sampled_dataset(x, y, q=1.0, batch_size=32, num_classes=None, augment=None, seed=None):
    """An infinite pipeline drawing classes with p_j = n_j^q / sum_k n_k^q, then examples
    uniformly within the class.

    `q = 1` is instance-based sampling (with replacement; `classification_dataset` gives the
    without-replacement epochs), `q = 1/2` square-root sampling, `q = 0` class-based sampling
    (Galdran et al., 2021, Eq. 1; paper convention, see `class_probabilities`). Each batch draws
    its `batch_size` class ids at once (stateless categorical, seeded by `(seed, step)`), an
    offset uniform within each class and gathers the images from one index table sorted by class
    (O(N) indices, one copy of the images). The pipeline is infinite: pass
    `steps_per_epoch=math.ceil(len(y) / batch_size)` to `fit`.

    Args:
        x: images `(N, H, W, C)`, uint8 (scaled to [0, 1]) or float (passed unchanged), or an
            `ImageFiles` (file paths: only the drawn files are read and decoded, per batch, in
            parallel; the same seed gives the same batches as the decoded array).
        y: integer labels `(N,)`. Every class in `[0, num_classes)` needs an example.
        q: float, or a `SamplingWeights` whose probabilities (or per-epoch schedule, indexed by
            the batch's step) the pipeline reads for every batch (for callbacks that change them
            during training). Defaults to `1.0`.
        batch_size: int >= 1. Defaults to `32`.
        num_classes: int >= 2, or `None` for `max(y) + 1`. Defaults to `None`.
        augment: `None`, a preset (`"none"`, `"flip"`, `"standard"`), `True` (`augment_batch`:
            flips, small rotation, crop-and-resize), a dict of `augment_batch` arguments, or a
            callable `(images, seed) -> images`; see `resolve_augment`. Applied after sampling.
            Defaults to `None`.
        seed: int >= 0 or `None`. The same seed gives the same batches. Defaults to `None`.

    Returns:
        An infinite `tf.data.Dataset` of `(images (B, H, W, C) float32, labels (B, K) float32
        one-hot)`.

    Raises:
        ValueError: a class with no examples, bad shapes or labels, `batch_size` < 1.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((10, 4, 4, 1), "uint8"); y = np.array([0] * 9 + [1])
    >>> ds = sampled_dataset(x, y, q=0.0, batch_size=1000, seed=0)
    >>> images, labels = next(iter(ds))
    >>> tuple(images.shape), tuple(labels.shape)
    ((1000, 4, 4, 1), (1000, 2))
    >>> bool(abs(float(labels[:, 1].numpy().mean()) - 0.5) < 0.05)  # class 1 drawn half the time
    True
    """
    x, y, num_classes, batch_size, counts = check_pipeline_inputs(x, y, num_classes, batch_size)
    weights = resolve_weights(q, counts)
    augment_fn = resolve_augment(augment)
    seed = resolve_seed(seed)
    table = IndexTable(y, num_classes)

    def draw(step):
        draw_seed, _ = tf.unstack(step_seeds(seed, step, 2))
        index, classes = table.draw(weights.probabilities_at(step), batch_size, draw_seed)
        return index, (step, classes)

    def finish(images, state):
        step, classes = state
        batch = prepare_batch(images, augment_fn, step_seeds(seed, step, 2)[1])
        return batch, tf.one_hot(classes, num_classes, dtype=tf.float32)

    return map_batches(tf.data.Dataset.counter(), draw, finish, x)


@kerasimb_export("kerasimb.data.effective_class_distribution", serializable=False)
def effective_class_distribution(class_counts, sampler="instance", alpha=0.1, q=None):
    """Returns the expected label mass per class of a training batch from each sampler.

    Closed forms (per example, K classes, pi_j = n_j / N):

    - `"instance"` (q = 1): pi_j; `"sqrt"`: n_j^½ / Σ n_k^½; `"class"`: 1/K; `"q"`: any `q`.
    - `"balanced-mixup"`: λ ~ Beta(α, 1) weights the class-sampled example, so
      E[ŷ_j] = (1 - E[λ]) pi_j + E[λ] / K = pi_j / (1 + α) + (α / (1 + α)) / K.
    - `"mixup"`, `"cutmix"`: pi_j (both partners are instance-sampled).

    Args:
        class_counts: list of int > 0.
        sampler: one of `"instance"`, `"sqrt"`, `"class"`, `"q"`, `"balanced-mixup"`, `"mixup"`,
            `"cutmix"`. Defaults to `"instance"`.
        alpha: float > 0, for `"balanced-mixup"`. Defaults to `0.1`.
        q: float, for `"q"`. Defaults to `None`.

    Returns:
        float64 numpy array `(K,)` summing to 1.

    Example:

    >>> effective_class_distribution([3, 1], "balanced-mixup", alpha=1.0).tolist()
    [0.625, 0.375]
    """
    check_choice(sampler, "sampler",
                 ("instance", "sqrt", "class", "q", "balanced-mixup", "mixup", "cutmix"))
    if sampler == "q":
        if q is None:
            raise ValueError("Invalid value received for argument `q`. Expected a float for "
                             "sampler='q'. Received: q=None")
        return class_probabilities(class_counts, q)
    exponent = {"sqrt": 0.5, "class": 0.0}.get(sampler, 1.0)
    p = class_probabilities(class_counts, exponent)
    if sampler == "balanced-mixup":
        alpha = check_float(alpha, "alpha", 0.0, min_inclusive=False)
        mean_lambda = alpha / (1.0 + alpha)
        p = (1.0 - mean_lambda) * p + mean_lambda / len(p)
    return p
