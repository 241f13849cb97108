"""Mixing pipelines: Balanced-MixUp (Galdran et al., 2021), MixUp, CutMix and Remix.

Every pipeline is infinite, seeded and yields `(images float32, soft labels float32 (B, K))`
batches ready for `model.fit(..., steps_per_epoch=math.ceil(N / batch_size))` with a loss that
accepts soft targets (e.g. `keras.losses.CategoricalCrossentropy(from_logits=True)`).

The instance stream of every pipeline is the ordinary shuffled epoch (each example once per epoch,
a new seeded order every epoch, as in `classification_dataset`); Balanced-MixUp's class stream is
drawn by `IndexTable` (class ids uniform over classes, then an example uniform within the class).
Images are gathered per batch from one copy of the data and mixed inside the same `map` call.
Every pipeline also takes file-backed images (`ImageFiles`): the indices of both batches are
drawn first, then only those files are read and decoded (in parallel) and mixed; the same seed
gives the same batches as the decoded array.

References:
    Galdran et al., "Balanced-MixUp for Highly Imbalanced Medical Image Classification",
    MICCAI 2021, https://arxiv.org/abs/2109.09850.
    Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
    https://arxiv.org/abs/1710.09412.
    Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
    Features", ICCV 2019, https://arxiv.org/abs/1905.04899.
    Chou et al., "Remix: Rebalanced Mixup", ECCV 2020 Workshops, https://arxiv.org/abs/2007.03943.
"""

import tensorflow as tf

from kerasimb.api_export import kerasimb_export
from kerasimb.data.augment import prepare_batch, resolve_augment
from kerasimb.data.sampling import (
    IndexTable,
    check_pipeline_inputs,
    class_probabilities,
    map_batches,
    resolve_seed,
    step_seeds,
)
from kerasimb.utils.validation import check_bool, check_float


def beta_alpha_one(shape, seed, alpha):
    """Draws λ ~ Beta(α, 1) by inverse CDF: F(λ) = λ^α, so λ = U^(1/α), U ~ U(0, 1)."""
    u = tf.random.stateless_uniform(shape, seed)
    return tf.pow(u, 1.0 / alpha)


def beta_symmetric(shape, seed, alpha):
    """Draws λ ~ Beta(α, α) as G1 / (G1 + G2), G1, G2 ~ Gamma(α) (stateless).

    Computed in log space for accuracy at small α: log G = log G' + log(U) / α with
    G' ~ Gamma(α + 1) and U ~ U(0, 1), so λ = sigmoid(log G1 - log G2).
    """
    gamma_seed, uniform_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    gammas = tf.random.stateless_gamma((2, *shape), gamma_seed, alpha=alpha + 1.0)
    uniforms = tf.random.stateless_uniform((2, *shape), uniform_seed, minval=1e-30, maxval=1.0)
    log_g = tf.math.log(tf.maximum(gammas, 1e-30)) + tf.math.log(uniforms) / alpha
    return tf.sigmoid(log_g[0] - log_g[1])


class _MixingSetup:
    """The arguments every mixing pipeline takes, checked and resolved.

    Attributes: `x`, `y`, `num_classes`, `batch_size`, `counts` (examples per class),
    `alpha`, `augment_fn`, `seed` (an int), `labels` (`y` as an int64 tensor) and
    `lambda_shape` (`(batch_size,)` with `per_example`, else `(1,)`).
    """

    def __init__(self, x, y, alpha, batch_size, per_example, seed, augment, num_classes):
        self.alpha = check_float(alpha, "alpha", 0.0, min_inclusive=False)
        per_example = check_bool(per_example, "per_example")
        self.x, self.y, self.num_classes, self.batch_size, self.counts = check_pipeline_inputs(
            x, y, num_classes, batch_size)
        self.augment_fn = resolve_augment(augment)
        self.seed = resolve_seed(seed)
        self.labels = tf.convert_to_tensor(self.y, tf.int64)
        self.lambda_shape = (self.batch_size,) if per_example else (1,)


def _instance_batches(n, batch_size, seed):
    """Index batches of shuffled epochs (a new seeded order every epoch), forever.

    Epoch `e` is a stateless permutation of `range(n)` seeded by `(seed, -1 - e)` (batch steps
    use non-negative ones); `rebatch` cuts the continuous stream into batches, so an epoch's last
    examples open the next batch and every example appears once per epoch. Memory is one
    permutation (8 bytes per example) instead of a shuffle buffer of `n` elements (about 200
    bytes each, and about 25x slower per batch at n = 1e6).
    """

    def epoch(e):
        order_seed = tf.stack([tf.constant(seed, tf.int64), -1 - e])
        return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), order_seed)

    batches = tf.data.Dataset.counter().map(epoch).rebatch(batch_size, drop_remainder=True)
    # endless, but `rebatch` hides it; declared so that a resumed fit skips the batches it
    # trained (`ResumableBackup.replay`) instead of starting the stream again
    return batches.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))


def _pipeline(x, batch_size, seed, draw, finish):
    """Zips the step counter with the instance stream; see `sampling.map_batches`."""
    ds = tf.data.Dataset.zip(tf.data.Dataset.counter(), _instance_batches(len(x), batch_size, seed))
    return map_batches(ds, draw, finish, x)


def _mix(a, b, weight_b):
    """(1 - w) * a + w * b with `w` of shape (1,) or (B,), broadcast over the trailing axes."""
    return a + _weight(weight_b, a.shape.rank) * (b - a)


def _weight(weight_b, rank=4):
    """`weight_b` of shape (1,) or (B,) reshaped to broadcast over the trailing axes."""
    return tf.reshape(weight_b, [-1] + [1] * (rank - 1))


def _permutation(batch_size, seed):
    return tf.argsort(tf.random.stateless_uniform((batch_size,), seed))


def _partner_pipeline(setup, num_seeds, combine):
    """MixUp / CutMix / Remix: each batch mixed with a permutation of itself, λ ~ Beta(α, α).

    Batch `step` uses `step_seeds(seed, step, num_seeds)`: the first seed draws the partner
    permutation, the second λ, the last the augmentation, any between are passed on.
    `combine(mix_images, y_a, y_b, lam, index, partner, extra_seeds)` returns the mixed
    `(images, labels)`; `mix_images(weight, swap)` gives the augmented batch `(1 - weight) *
    x_a + weight * x_b` (`(1 - weight) * x_b + weight * x_a` with `swap`) in one pass
    (`augment.prepare_batch`);
    `index` and `partner` are the two batches' example indices.
    """
    seed, batch_size = setup.seed, setup.batch_size

    def draw(step, index):
        partner = tf.gather(index, _permutation(batch_size, step_seeds(seed, step, num_seeds)[0]))
        pair_index, pair = _pair_index(setup.labels, setup.num_classes, index, partner)
        return pair_index, (step, pair, index, partner)

    def finish(images, state):
        step, (y_a, y_b), index, partner = state
        _, lambda_seed, *extra_seeds, augment_seed = tf.unstack(step_seeds(seed, step, num_seeds))
        lam = beta_symmetric(setup.lambda_shape, lambda_seed, setup.alpha)

        def mix_images(weight, swap):
            return prepare_batch(images, setup.augment_fn, augment_seed, weight, swap)

        return combine(mix_images, y_a, y_b, lam, index, partner, extra_seeds)

    return _pipeline(setup.x, batch_size, seed, draw, finish)


def _pair_index(labels, num_classes, index_a, index_b):
    """Returns `(index, (y_a, y_b))`: both batches' indices in one vector, one-hot labels."""
    y_a = tf.one_hot(tf.gather(labels, index_a), num_classes, dtype=tf.float32)
    y_b = tf.one_hot(tf.gather(labels, index_b), num_classes, dtype=tf.float32)
    return tf.concat([index_a, index_b], 0), (y_a, y_b)


@kerasimb_export("kerasimb.data.balanced_mixup_dataset", serializable=False)
def balanced_mixup_dataset(x, y, alpha=0.1, batch_size=32, per_example=False, seed=None,
                           augment=None, num_classes=None):
    """Balanced-MixUp: mixes an instance-sampled batch with a class-sampled batch, λ ~ Beta(α, 1).

    x̂ = (1 - λ) x_I + λ x_C and ŷ = (1 - λ) y_I + λ y_C (Galdran et al., 2021): the
    instance-sampled batch `(x_I, y_I)` keeps most of the weight, the class-sampled batch
    `(x_C, y_C)` (every class equally likely) gets the small weight λ, E[λ] = α / (1 + α); a
    larger α gives the minority classes more weight. This follows the paper's text and the
    authors' code; the paper's printed Eq. 3 puts λ on the instance batch instead, which
    contradicts its own text (with Beta(α, 1) piling up near 0 it would nearly discard the
    instance batch), so it is not followed. The expected label mass of class j is
    n_j / N / (1 + α) + (α / (1 + α)) / K.

    The authors' code draws one λ per batch (`per_example=False`, the default);
    `per_example=True` draws one λ per example. The instance stream is the shuffled epoch; the
    class stream draws class ids uniformly and examples uniformly within the class (the
    authors' code's "q = 1" is this "q = 0", see `class_probabilities`).

    Args:
        x: images `(N, H, W, C)`, uint8 (scaled to [0, 1]) or float, or an `ImageFiles` (only
            the drawn files are read and decoded, per batch, in parallel).
        y: integer labels `(N,)`; every class needs at least one example.
        alpha: float > 0. Beta(α, 1) parameter; the paper uses 0.1, 0.2, 0.3. Defaults to `0.1`.
        batch_size: int >= 1. Defaults to `32`.
        per_example: bool. One λ per example instead of one per batch. Defaults to `False`.
        seed: int >= 0 or `None`. The same seed gives the same batches. Defaults to `None`.
        augment: `None`, a preset (`"none"`, `"flip"`, `"standard"`), `True`, a dict of
            `augment_batch` arguments or a callable `(images, seed) -> images` (see
            `resolve_augment`), applied to both batches before mixing (in the same pass as the
            mix for all but a callable). Defaults to `None`.
        num_classes: int >= 2 or `None` (`max(y) + 1`). Defaults to `None`.

    Returns:
        An infinite `tf.data.Dataset` of `(images (B, H, W, C) float32, labels (B, K) float32)`.

    Raises:
        ValueError: `alpha` <= 0, a class with no examples, mismatched `x`/`y`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((20, 4, 4, 1), "uint8"); y = np.array([0] * 18 + [1, 1])
    >>> images, labels = next(iter(balanced_mixup_dataset(x, y, alpha=0.2, batch_size=8, seed=0)))
    >>> tuple(images.shape), tuple(labels.shape)
    ((8, 4, 4, 1), (8, 2))
    >>> bool(np.allclose(labels.numpy().sum(axis=1), 1.0))
    True
    """
    setup = _MixingSetup(x, y, alpha, batch_size, per_example, seed, augment, num_classes)
    seed, batch_size = setup.seed, setup.batch_size
    table = IndexTable(setup.y, setup.num_classes)
    uniform = tf.constant(class_probabilities(setup.counts, 0.0), tf.float32)

    def draw(step, index_i):
        index_c, _ = table.draw(uniform, batch_size, step_seeds(seed, step, 3)[0])
        index, pair = _pair_index(setup.labels, setup.num_classes, index_i, index_c)
        return index, (step, pair)

    def finish(images, state):
        step, (y_i, y_c) = state
        _, lambda_seed, augment_seed = tf.unstack(step_seeds(seed, step, 3))
        lam = beta_alpha_one(setup.lambda_shape, lambda_seed, setup.alpha)
        # Scale, augment and mix both batches in one pass (`augment.prepare_batch`).
        images = prepare_batch(images, setup.augment_fn, augment_seed, _weight(lam))
        return images, _mix(y_i, y_c, lam)

    return _pipeline(setup.x, batch_size, seed, draw, finish)


@kerasimb_export("kerasimb.data.mixup_dataset", serializable=False)
def mixup_dataset(x, y, alpha=1.0, batch_size=32, per_example=False, seed=None, augment=None,
                  num_classes=None):
    """MixUp (Zhang et al., 2018) within one instance-sampled stream, λ ~ Beta(α, α).

    Each batch is mixed with a random permutation of itself: x̂ = λ x + (1 - λ) x_perm,
    ŷ = λ y + (1 - λ) y_perm. One λ per batch like the reference code, or one per example.

    Args:
        x: images `(N, H, W, C)`, uint8 or float, or an `ImageFiles`.
        y: integer labels `(N,)`.
        alpha: float > 0. Defaults to `1.0` (Zhang et al.'s CIFAR setting).
        batch_size: int >= 1. Defaults to `32`.
        per_example: bool. Defaults to `False`.
        seed: int >= 0 or `None`. Defaults to `None`.
        augment: as in `balanced_mixup_dataset`. Defaults to `None`.
        num_classes: int >= 2 or `None`. Defaults to `None`.

    Returns:
        An infinite `tf.data.Dataset` of `(images float32, soft labels float32)`.

    Raises:
        ValueError: `alpha` <= 0, a class with no examples, mismatched `x`/`y`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((10, 4, 4, 1), "uint8"); y = np.arange(10) % 2
    >>> images, labels = next(iter(mixup_dataset(x, y, batch_size=4, seed=0)))
    >>> tuple(labels.shape), bool(np.allclose(labels.numpy().sum(axis=1), 1.0))
    ((4, 2), True)
    """
    setup = _MixingSetup(x, y, alpha, batch_size, per_example, seed, augment, num_classes)

    def combine(mix_images, y_a, y_b, lam, index, partner, extra_seeds):
        return mix_images(_weight(lam), swap=True), _mix(y_b, y_a, lam)

    return _partner_pipeline(setup, 3, combine)


def cutmix_boxes(height, width, lam, seed):
    """Returns `(mask (B or 1, H, W, 1) float32, lam_adjusted)` for CutMix boxes.

    The box has sides `H sqrt(1 - λ)` × `W sqrt(1 - λ)`, a centre uniform over the image, and
    is clipped to the image; the mask is 1 inside the box (pasted from the partner) and the
    adjusted λ is 1 - box area / image area (Yun et al., 2019).
    """
    size = tf.shape(lam)[0]
    centre = tf.random.stateless_uniform((2, size), seed)
    h, w = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    cut = tf.sqrt(1.0 - lam)
    cy, cx = tf.floor(centre[0] * h), tf.floor(centre[1] * w)
    y1 = tf.clip_by_value(tf.round(cy - cut * h / 2.0), 0.0, h)
    y2 = tf.clip_by_value(tf.round(cy + cut * h / 2.0), 0.0, h)
    x1 = tf.clip_by_value(tf.round(cx - cut * w / 2.0), 0.0, w)
    x2 = tf.clip_by_value(tf.round(cx + cut * w / 2.0), 0.0, w)
    rows = tf.range(h)[None, :, None]
    cols = tf.range(w)[None, None, :]
    inside_rows = (rows >= y1[:, None, None]) & (rows < y2[:, None, None])
    inside_cols = (cols >= x1[:, None, None]) & (cols < x2[:, None, None])
    mask = tf.cast(inside_rows & inside_cols, tf.float32)[..., None]
    lam_adjusted = 1.0 - (y2 - y1) * (x2 - x1) / (h * w)
    return mask, lam_adjusted


@kerasimb_export("kerasimb.data.cutmix_dataset", serializable=False)
def cutmix_dataset(x, y, alpha=1.0, batch_size=32, per_example=False, seed=None, augment=None,
                   num_classes=None):
    """CutMix (Yun et al., 2019) within one instance-sampled stream.

    λ ~ Beta(α, α); a box of area fraction about 1 - λ (clipped to the image) is cut from a
    random permutation of the batch and pasted in; labels mix with the box's actual area:
    ŷ = λ' y + (1 - λ') y_perm, λ' = 1 - box area / image area. One box per batch like the
    reference code, or one per example.

    Args:
        x: images `(N, H, W, C)`, uint8 or float, or an `ImageFiles`.
        y: integer labels `(N,)`.
        alpha: float > 0. Defaults to `1.0` (Yun et al.).
        batch_size: int >= 1. Defaults to `32`.
        per_example: bool. Defaults to `False`.
        seed: int >= 0 or `None`. Defaults to `None`.
        augment: as in `balanced_mixup_dataset`. Defaults to `None`.
        num_classes: int >= 2 or `None`. Defaults to `None`.

    Returns:
        An infinite `tf.data.Dataset` of `(images float32, soft labels float32)`.

    Raises:
        ValueError: `alpha` <= 0, a class with no examples, mismatched `x`/`y`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((10, 8, 8, 1), "uint8"); y = np.arange(10) % 2
    >>> images, labels = next(iter(cutmix_dataset(x, y, batch_size=4, seed=0)))
    >>> tuple(images.shape), bool(np.allclose(labels.numpy().sum(axis=1), 1.0))
    ((4, 8, 8, 1), True)
    """
    setup = _MixingSetup(x, y, alpha, batch_size, per_example, seed, augment, num_classes)
    height, width = setup.x.shape[1], setup.x.shape[2]

    def combine(mix_images, y_a, y_b, lam, index, partner, extra_seeds):
        (box_seed,) = extra_seeds
        mask, lam_adjusted = cutmix_boxes(height, width, lam, box_seed)
        return mix_images(mask, swap=False), _mix(y_b, y_a, lam_adjusted)

    return _partner_pipeline(setup, 4, combine)


def remix_label_weight(lam, counts_a, counts_b, kappa, tau):
    """Remix's label weight on example `a` (Chou et al., 2020, Eq. 9).

    0 when n_a / n_b >= κ and λ < τ (the majority `a` contributes little: all label mass to the
    minority `b`); 1 when n_a / n_b <= 1/κ and 1 - λ < τ; λ otherwise.
    """
    ratio = tf.cast(counts_a, tf.float32) / tf.cast(counts_b, tf.float32)
    lam = tf.broadcast_to(lam, tf.shape(ratio))
    label = tf.where((ratio >= kappa) & (lam < tau), tf.zeros_like(lam), lam)
    return tf.where((ratio <= 1.0 / kappa) & (1.0 - lam < tau), tf.ones_like(lam), label)


@kerasimb_export("kerasimb.data.remix_dataset", serializable=False)
def remix_dataset(x, y, alpha=1.0, kappa=3.0, tau=0.5, batch_size=32, per_example=False,
                  seed=None, augment=None, num_classes=None):
    """Remix (Chou et al., 2020): MixUp images, labels pushed toward the minority class.

    Images mix as in MixUp, x̂ = λ x_a + (1 - λ) x_b with λ ~ Beta(α, α) and `b` a permutation
    of the batch; labels mix with λ_y (`remix_label_weight`): λ_y = 0 if n_a / n_b >= κ and
    λ < τ, λ_y = 1 if n_a / n_b <= 1/κ and 1 - λ < τ, else λ_y = λ; ŷ = λ_y y_a + (1 - λ_y) y_b.

    Args:
        x: images `(N, H, W, C)`, uint8 or float, or an `ImageFiles`.
        y: integer labels `(N,)`.
        alpha: float > 0. Defaults to `1.0`.
        kappa: float >= 1. Defaults to `3.0` (the paper's setting).
        tau: float in [0, 1]. Defaults to `0.5` (the paper's setting).
        batch_size: int >= 1. Defaults to `32`.
        per_example: bool. One λ per example (else per batch). Defaults to `False`.
        seed: int >= 0 or `None`. Defaults to `None`.
        augment: as in `balanced_mixup_dataset`. Defaults to `None`.
        num_classes: int >= 2 or `None`. Defaults to `None`.

    Returns:
        An infinite `tf.data.Dataset` of `(images float32, soft labels float32)`.

    Raises:
        ValueError: `alpha` <= 0, `kappa` < 1, `tau` outside [0, 1], a class with no examples,
            mismatched `x`/`y`.

    Example:

    >>> import numpy as np
    >>> x = np.zeros((12, 4, 4, 1), "uint8"); y = np.array([0] * 10 + [1, 1])
    >>> images, labels = next(iter(remix_dataset(x, y, batch_size=6, seed=0)))
    >>> tuple(labels.shape), bool(np.allclose(labels.numpy().sum(axis=1), 1.0))
    ((6, 2), True)
    """
    kappa = check_float(kappa, "kappa", 1.0)
    tau = check_float(tau, "tau", 0.0, 1.0)
    setup = _MixingSetup(x, y, alpha, batch_size, per_example, seed, augment, num_classes)
    count_table = tf.constant(setup.counts, tf.int64)

    def combine(mix_images, y_a, y_b, lam, index, partner, extra_seeds):
        lam_y = remix_label_weight(lam, tf.gather(count_table, tf.gather(setup.labels, index)),
                                   tf.gather(count_table, tf.gather(setup.labels, partner)),
                                   kappa, tau)
        return mix_images(_weight(lam), swap=True), _mix(y_b, y_a, lam_y)

    return _partner_pipeline(setup, 3, combine)
