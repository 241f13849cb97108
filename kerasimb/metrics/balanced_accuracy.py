"""Balanced accuracy: the mean recall over classes."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric, shared_docstring


@kerasimb_export("kerasimb.metrics.BalancedAccuracy")
@shared_docstring(result="0.8333")
class BalancedAccuracy(ConfusionMatrixMetric):
    """Mean per-class recall over the classes present in the labels seen so far.

    Recall of class `k` is `C[k, k] / sum_j C[k, j]` on the accumulated confusion matrix `C`.
    Classes with no (weighted) true examples are left out of the mean, so the value equals
    `sklearn.metrics.balanced_accuracy_score`. Before any example has been seen the result is 0.
    Unlike accuracy, a classifier that always predicts the majority class scores
    `1 / num_classes`, whatever the imbalance.

    {shared}

    Usage with `compile()`:

    ```python
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=[kerasimb.metrics.BalancedAccuracy(num_classes=7)])
    ```
    """

    def __init__(self, num_classes, name="balanced_accuracy", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        _, true_positives, true_totals, _ = self._counts()
        present = ops.cast(true_totals > 0, self.dtype)
        recall = ops.divide_no_nan(true_positives, true_totals)
        return ops.divide_no_nan(ops.sum(recall * present), ops.sum(present))
