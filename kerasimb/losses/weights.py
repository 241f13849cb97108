"""Per-class weights from class counts."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_choice, check_class_counts, check_float


@kerasimb_export("kerasimb.losses.class_weights", serializable=False)
def class_weights(class_counts, method="inverse", beta=0.9999):
    """Per-class loss weights from training class counts, normalised to sum to the class count.

    - `"inverse"`: w_j ∝ 1 / n_j.
    - `"sqrt_inverse"`: w_j ∝ 1 / sqrt(n_j).
    - `"effective"`: w_j ∝ (1 - β) / (1 - β^{n_j}), the inverse effective number of samples
      (Cui et al., CVPR 2019).

    Args:
        class_counts: list of int, training examples per class (all > 0).
        method: `"inverse"`, `"sqrt_inverse"` or `"effective"`. Defaults to `"inverse"`.
        beta: float in [0, 1). Only for `"effective"`. Defaults to `0.9999`.

    Returns:
        List of float, one per class, summing to `len(class_counts)`.

    Example:

    >>> class_weights([90, 10])
    [0.2, 1.8]

    References:
        - [Cui et al., 2019](https://arxiv.org/abs/1901.05555)
    """
    counts = np.asarray(check_class_counts(class_counts), dtype=np.float64)
    check_choice(method, "method", ("inverse", "sqrt_inverse", "effective"))
    if method == "inverse":
        raw = 1.0 / counts
    elif method == "sqrt_inverse":
        raw = 1.0 / np.sqrt(counts)
    else:
        beta = check_float(beta, "beta", minimum=0.0, maximum=1.0, max_inclusive=False)
        raw = (1.0 - beta) / (1.0 - np.power(beta, counts))
    weights = raw * len(counts) / raw.sum()
    return [round(float(w), 12) for w in weights]
