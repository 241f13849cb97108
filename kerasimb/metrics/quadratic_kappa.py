"""Cohen's kappa with quadratic weights, the standard score for ordinal grading."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric, shared_docstring


@kerasimb_export("kerasimb.metrics.QuadraticKappa")
@shared_docstring(result="0.8")
class QuadraticKappa(ConfusionMatrixMetric):
    """Quadratic weighted Cohen's kappa between labels and predictions.

    With the accumulated confusion matrix `O` (normalised to sum to 1), the expected matrix
    under independence `E = outer(t, p)` of the true and predicted class frequencies, and
    weights `W[i, j] = (i - j)^2` on the class indices:

        kappa = 1 - sum(W * O) / sum(W * E)

    Classes are ordinal and the weights use the class index, so the distance between grades 1
    and 3 is 4 even when grade 2 never occurs. This equals
    `sklearn.metrics.cohen_kappa_score(y_true, y_pred, weights="quadratic",
    labels=range(num_classes))`, and the scikit-learn default (`labels=None`) whenever every
    class occurs in the labels or the predictions (the default renumbers the classes that do
    occur). Where scikit-learn returns NaN, i.e. the denominator `sum(W * E)` is 0 (labels and
    predictions all of one and the same class, or nothing seen yet), the result is 0.

    {shared}

    References:
        - [Cohen, 1968](https://doi.org/10.1037/h0026256)
    """

    def __init__(self, num_classes, name="quadratic_kappa", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        matrix, _, _, _ = self._counts()
        observed = ops.divide_no_nan(matrix, ops.sum(matrix))
        expected = ops.outer(ops.sum(observed, axis=1), ops.sum(observed, axis=0))
        index = ops.arange(self.num_classes, dtype=self.dtype)
        weights = ops.square(ops.expand_dims(index, 1) - ops.expand_dims(index, 0))
        disagreement = ops.sum(weights * observed)
        chance = ops.sum(weights * expected)  # exactly 0 in the degenerate case
        return ops.where(chance > 0, 1.0 - ops.divide_no_nan(disagreement, chance), 0.0)
