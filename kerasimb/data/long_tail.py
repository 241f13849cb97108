"""Making a balanced training split long-tailed, as CIFAR-LT and PathMNIST-LT are built."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_float, check_images_labels, check_int


@kerasimb_export("kerasimb.data.long_tailed_counts", serializable=False)
def long_tailed_counts(num_classes, max_count, imbalance_ratio, profile="exp"):
    """Per-class counts of a long-tailed split; class 0 is the head, the last class the tail.

    - `"exp"`: n_i = floor(max_count * ratio^(-i / (C - 1))) (Cao et al., 2019; Cui et al., 2019).
    - `"step"`: the first half of the classes (rounded up) keep `max_count`, the rest get
      floor(max_count / ratio).

    Every class keeps at least one example.

    Args:
        num_classes: int >= 2.
        max_count: int >= 1. The head class count.
        imbalance_ratio: float >= 1. Head count over tail count.
        profile: `"exp"` or `"step"`. Defaults to `"exp"`.

    Returns:
        List of int, one per class.

    Example:

    >>> long_tailed_counts(3, 100, 100.0)
    [100, 10, 1]
    """
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    max_count = check_int(max_count, "max_count", minimum=1)
    ratio = check_float(imbalance_ratio, "imbalance_ratio", minimum=1.0)
    check_choice(profile, "profile", ("exp", "step"))
    # The small epsilon keeps exact powers (100 * 0.1 = 9.999...) from flooring one too low.
    return [
        max(1, int(np.floor(max_count * f + 1e-9)))
        for f in _profile_factors(num_classes, ratio, profile)
    ]


def _profile_factors(num_classes, ratio, profile):
    if profile == "exp":
        return ratio ** (-np.arange(num_classes) / (num_classes - 1))
    return np.where(np.arange(num_classes) < (num_classes + 1) // 2, 1.0, 1.0 / ratio)


def largest_head_count(available, imbalance_ratio, profile="exp"):
    """Largest head count whose long-tailed profile fits within `available` examples per class."""
    available = np.asarray(available)
    factors = _profile_factors(len(available), imbalance_ratio, profile)
    largest = int(min(available[0], np.floor(np.min((available + 1 - 1e-9) / factors))))
    fits = lambda m: all(  # noqa: E731
        n <= a for n, a in zip(long_tailed_counts(len(available), m, imbalance_ratio, profile), available)
    )
    while largest > 1 and not fits(largest):
        largest -= 1
    return largest


@kerasimb_export("kerasimb.data.make_long_tailed", serializable=False)
def make_long_tailed(x, y, imbalance_ratio, profile="exp", seed=0, max_count=None):
    """Subsamples `(x, y)` so that class counts follow a long-tailed profile.

    Class 0 becomes the head and the last class the tail. The head count defaults to the largest
    value for which every class has enough examples; examples within a class are drawn without
    replacement with `seed`, and kept in their original order.

    Args:
        x: images `(N, H, W, C)`.
        y: integer labels `(N,)`.
        imbalance_ratio: float >= 1. Head count over tail count.
        profile: `"exp"` or `"step"` (see `long_tailed_counts`). Defaults to `"exp"`.
        seed: int. Seed for the choice of examples. Defaults to `0`.
        max_count: int or `None`. Head class count; must not exceed what each class can supply.
            Defaults to `None` (as large as the data allows).

    Returns:
        `(x_lt, y_lt)`: the kept images and labels.

    Raises:
        ValueError: a class with no examples, or `max_count` larger than the data allows.

    Example:

    >>> import numpy as np
    >>> y = np.repeat(np.arange(3), 100)
    >>> x = np.zeros((300, 2, 2, 1), "uint8")
    >>> x_lt, y_lt = make_long_tailed(x, y, imbalance_ratio=10)
    >>> np.bincount(y_lt).tolist()
    [100, 31, 10]
    """
    x, y = check_images_labels(x, y)
    num_classes = int(y.max()) + 1
    available = np.bincount(y, minlength=num_classes)
    if np.any(available == 0):
        raise ValueError(
            "Invalid value received for argument `y`. Every class up to the largest label needs "
            f"examples. Received: no examples for classes {np.flatnonzero(available == 0).tolist()}"
        )
    ratio = check_float(imbalance_ratio, "imbalance_ratio", minimum=1.0)
    check_choice(profile, "profile", ("exp", "step"))
    largest = largest_head_count(available.tolist(), ratio, profile)
    if max_count is None:
        max_count = largest
    else:
        max_count = check_int(max_count, "max_count", minimum=1)
        if max_count > largest:
            raise ValueError(
                "Invalid value received for argument `max_count`. Expected at most "
                f"{largest} for these class counts {available.tolist()} and imbalance_ratio="
                f"{imbalance_ratio}. Received: max_count={max_count}"
            )
    counts = long_tailed_counts(num_classes, max_count, imbalance_ratio, profile)
    rng = np.random.default_rng(seed)
    keep = []
    for c, n in enumerate(counts):
        members = np.flatnonzero(y == c)
        keep.append(rng.choice(members, size=n, replace=False))
    keep = np.sort(np.concatenate(keep))
    return x[keep], y[keep]
