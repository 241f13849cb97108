"""Multi-class Matthews correlation coefficient."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric, shared_docstring


def _off_diagonal_sum(matrix):
    """Sum of the off-diagonal entries; exactly 0 when at most one row/column is non-zero."""
    return ops.sum(matrix) - ops.sum(ops.diagonal(matrix))


@kerasimb_export("kerasimb.metrics.MatthewsCorrelation")
@shared_docstring(result="0.7")
class MatthewsCorrelation(ConfusionMatrixMetric):
    """Matthews correlation coefficient (MCC, Gorodkin's R_K for more than two classes).

    With the accumulated confusion matrix `C`, `t_k` the true and `p_k` the predicted totals
    of class `k`, `c = trace(C)` and `s = sum(C)`:

        MCC = (c * s - t . p) / sqrt((s^2 - p . p) * (s^2 - t . t))

    which is `sklearn.metrics.matthews_corrcoef`. The value lies in [-1, 1]; 1 is perfect
    prediction and 0 is chance level. When the denominator is 0 (all labels, or all
    predictions, of a single class, or nothing seen yet) the result is 0, as in scikit-learn.
    The matrix is normalised to proportions first and `s^2 - p . p` is computed as a sum of
    off-diagonal products, so the degenerate case gives exactly 0 and `float32` stays accurate
    for large counts.

    {shared}

    References:
        - [Gorodkin, 2004](https://doi.org/10.1016/j.compbiolchem.2004.09.006)
    """

    def __init__(self, num_classes, name="matthews_correlation", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        matrix, _, _, _ = self._counts()
        matrix = ops.divide_no_nan(matrix, ops.sum(matrix))
        true_totals = ops.sum(matrix, axis=1)
        pred_totals = ops.sum(matrix, axis=0)
        covariance = ops.trace(matrix) - ops.sum(true_totals * pred_totals)
        pred_variance = _off_diagonal_sum(ops.outer(pred_totals, pred_totals))
        true_variance = _off_diagonal_sum(ops.outer(true_totals, true_totals))
        mcc = ops.divide_no_nan(covariance, ops.sqrt(pred_variance * true_variance))
        return ops.clip(mcc, -1.0, 1.0)
