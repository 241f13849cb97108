"""The law of the mixing weight λ, read back from the batches of the mixing pipelines and
compared with its Beta law by Kolmogorov–Smirnov tests (scipy).

- MixUp and Remix mix images with λ ~ Beta(α, α) (Zhang et al., 2018; Chou et al., 2020).
  Every image is 1 at its own pixel and 0 elsewhere, so a mixed image holds λ at one example's
  pixel and 1 - λ at its partner's. Which of the two is the "first" example is not observable,
  but the pair {λ, 1 - λ} is: the test uses m = min(λ, 1 - λ), whose CDF is
  P(λ <= t) + P(λ >= 1 - t) for t <= 1/2.
- CutMix mixes labels with λ' = 1 - (box area) / (image area), the box of sides
  sqrt(1 - λ) H x sqrt(1 - λ) W, λ ~ Beta(α, α), centred uniformly over the image and clipped
  to it (Yun et al., 2019): the reference law of min(λ', 1 - λ') is simulated in numpy from that
  rule (continuous coordinates, 64 px images so that pixel rounding does not matter).
- Balanced-MixUp puts λ ~ Beta(α, 1) on the class-sampled batch (Galdran et al., 2021). With
  one batch per epoch of the instance stream, the instance-sampled examples of a batch are all
  N examples once each, which tells the instance side of every mixed image from the class side,
  so λ itself (not only min(λ, 1 - λ)) is read back.

Each test also checks that its sample rejects the wrong law (Beta(α, 1) for the symmetric
mixers, Beta(α, α) and the weight on the instance batch for Balanced-MixUp), so a sample too
small to tell them apart fails rather than passes.
"""

import numpy as np
import pytest
from scipy import stats

from kerasimb import data

P_MIN = 1e-3


def identity_images(n, side):
    """`n` float images `(side, side, 1)`: image k is 1 at pixel k and 0 elsewhere."""
    x = np.zeros((n, side * side), "float32")
    x[np.arange(n), np.arange(n)] = 1.0
    return x.reshape(n, side, side, 1)


def pixel_weights(ds, batches):
    """`(batches, B, pixels)` mixed images of the first `batches` batches, flattened."""
    return np.stack([images.numpy().reshape(len(images), -1) for images, _ in ds.take(batches)])


def folded_cdf(law):
    """CDF of min(λ, 1 - λ) for λ ~ `law` (a scipy distribution on [0, 1]), t in [0, 1/2]."""
    return lambda t: law.cdf(t) + law.sf(1.0 - np.asarray(t))


def minor_weights(rows, per_example):
    """min(λ, 1 - λ) of every row mixing two examples (`per_example`), or of the first such row
    of the batch (one λ per batch: the rows are not independent)."""
    values = []
    for batch in rows:
        mixed = batch[(batch > 0).sum(-1) == 2]
        if len(mixed):
            minor = np.where(mixed > 0, mixed, np.inf).min(-1)
            values.extend(minor if per_example else minor[:1])
    return np.asarray(values, np.float64)


def ks_pvalue(sample, cdf):
    return stats.kstest(sample, cdf).pvalue


@pytest.mark.parametrize("pipeline", [data.mixup_dataset, data.remix_dataset],
                         ids=["mixup", "remix"])
@pytest.mark.parametrize("per_example", [False, True], ids=["per-batch", "per-example"])
def test_mixup_and_remix_lambda_is_beta_alpha_alpha(pipeline, per_example):
    # α = 2: Beta(2, 1) folded is uniform on [0, 1/2], far from Beta(2, 2) folded (at α = 1
    # the two laws coincide and no test could tell them apart).
    alpha, n = 2.0, 16
    ds = pipeline(identity_images(n, 4), np.arange(n) % 2, alpha=alpha, batch_size=n,
                  per_example=per_example, seed=11)
    m = minor_weights(pixel_weights(ds, 1500 if not per_example else 150), per_example)
    assert len(m) > 1000
    right = ks_pvalue(m, folded_cdf(stats.beta(alpha, alpha)))
    wrong = ks_pvalue(m, folded_cdf(stats.beta(alpha, 1.0)))
    assert right > P_MIN, f"min(λ, 1-λ) is not folded Beta({alpha}, {alpha}): KS p = {right:.3g}"
    assert wrong < P_MIN, f"the sample does not reject Beta({alpha}, 1): KS p = {wrong:.3g}"


def cutmix_reference(law, size, rng):
    """min(λ', 1 - λ') for λ ~ `law`: boxes of sides sqrt(1 - λ) (as fractions of the image),
    centre uniform over the image, clipped; λ' = 1 - clipped area (Yun et al., 2019)."""
    cut = np.sqrt(1.0 - law.rvs(size, random_state=rng))
    sides = [np.clip(c + cut / 2, 0, 1) - np.clip(c - cut / 2, 0, 1) for c in rng.random((2, size))]
    lam = 1.0 - sides[0] * sides[1]
    return np.minimum(lam, 1.0 - lam)


@pytest.mark.parametrize("per_example", [False, True], ids=["per-batch", "per-example"])
def test_cutmix_label_weight_follows_beta_alpha_alpha_boxes(per_example):
    alpha, n, side = 2.0, 32, 64
    x, y = np.zeros((n, side, side, 1), "float32"), np.arange(n) % 2
    ds = data.cutmix_dataset(x, y, alpha=alpha, batch_size=8, per_example=per_example, seed=12)
    labels = np.stack([labels.numpy() for _, labels in ds.take(2000 if not per_example else 300)])
    m = minor_weights(labels, per_example)  # rows mixing the two classes: class-0 mass is λ'
    assert len(m) > 1000
    rng = np.random.default_rng(0)
    right = stats.ks_2samp(m, cutmix_reference(stats.beta(alpha, alpha), 100_000, rng)).pvalue
    wrong = stats.ks_2samp(m, cutmix_reference(stats.beta(alpha, 1.0), 100_000, rng)).pvalue
    assert right > P_MIN, f"CutMix's λ' is not from Beta({alpha}, {alpha}) boxes: p = {right:.3g}"
    assert wrong < P_MIN, f"the sample does not reject Beta({alpha}, 1) boxes: p = {wrong:.3g}"


def balanced_mixup_lambdas(weights, n):
    """λ of each batch (the weight of the class-sampled image), one per batch.

    Each row holds 1 - λ at its instance-sampled example and λ at its class-sampled one (or 1
    at one pixel when both are the same example). The instance-sampled examples of a batch are
    the n examples once each; the class-sampled ones repeat. So λ < 1/2 when the larger weight
    of every row marks n distinct examples, λ > 1/2 when the smaller weights do.
    """
    lambdas, undecided = [], 0
    for batch in weights:
        two = (batch > 0).sum(-1) == 2
        if not two.any():  # λ exactly 0 or 1 (float32): nothing to read
            undecided += 1
            continue
        larger = batch.argmax(-1)
        smaller = np.where(two, np.where(batch > 0, batch, np.inf).argmin(-1), larger)
        instance_larger = len(set(larger.tolist())) == n
        instance_smaller = len(set(smaller.tolist())) == n
        assert instance_larger or instance_smaller, "a batch is not one instance-stream epoch"
        if instance_larger == instance_smaller:  # the class side also a permutation: rare
            undecided += 1
            continue
        row = np.flatnonzero(two)[0]
        lambdas.append(batch[row, smaller[row] if instance_larger else larger[row]])
    assert undecided < len(weights) // 20
    return np.asarray(lambdas, np.float64)


def test_balanced_mixup_lambda_is_beta_alpha_one_on_the_class_batch():
    alpha, n = 0.2, 16
    y = np.repeat([0, 1], [12, 4])
    ds = data.balanced_mixup_dataset(identity_images(n, 4), y, alpha=alpha, batch_size=n,
                                     seed=13)
    lam = balanced_mixup_lambdas(pixel_weights(ds, 1500), n)
    right = ks_pvalue(lam, stats.beta(alpha, 1.0).cdf)
    assert right > P_MIN, f"λ is not Beta({alpha}, 1): KS p = {right:.3g}"
    for wrong_law, what in ((stats.beta(alpha, alpha), f"Beta({alpha}, {alpha})"),
                            (stats.beta(1.0, alpha), "λ on the instance batch")):
        wrong = ks_pvalue(lam, wrong_law.cdf)
        assert wrong < P_MIN, f"the sample does not reject {what}: KS p = {wrong:.3g}"


def test_balanced_mixup_per_example_lambda_is_beta_alpha_one():
    # One λ per example: min(λ, 1 - λ) of each mixed row against folded Beta(α, 1).
    alpha, n = 0.5, 16
    y = np.repeat([0, 1], [12, 4])
    ds = data.balanced_mixup_dataset(identity_images(n, 4), y, alpha=alpha, batch_size=n,
                                     per_example=True, seed=14)
    m = minor_weights(pixel_weights(ds, 300), per_example=True)
    assert len(m) > 1000
    right = ks_pvalue(m, folded_cdf(stats.beta(alpha, 1.0)))
    wrong = ks_pvalue(m, folded_cdf(stats.beta(alpha, alpha)))
    assert right > P_MIN, f"min(λ, 1-λ) is not folded Beta({alpha}, 1): KS p = {right:.3g}"
    assert wrong < P_MIN, f"the sample does not reject Beta({alpha}, {alpha}): KS p = {wrong:.3g}"
