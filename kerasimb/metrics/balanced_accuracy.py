"""Balanced accuracy: the mean recall over classes."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric


@kerasimb_export("kerasimb.metrics.BalancedAccuracy")
class BalancedAccuracy(ConfusionMatrixMetric):
    """Mean per-class recall over the classes present in the labels seen so far.

    Recall of class `k` is `C[k, k] / sum_j C[k, j]` on the accumulated confusion matrix `C`.
    Classes with no (weighted) true examples are left out of the mean, so the value equals
    `sklearn.metrics.balanced_accuracy_score`. Before any example has been seen the result is 0.
    Unlike accuracy, a classifier that always predicts the majority class scores
    `1 / num_classes`, whatever the imbalance.

    Accepts the labels, predictions and sample weights described in `ConfusionMatrixMetric`.

    Args:
        num_classes: int >= 2. Number of classes.
        name: str. Name of the metric. Defaults to `"balanced_accuracy"`.
        dtype: str or `None`. Dtype of the state and of the result. Defaults to `None`
            (`keras.backend.floatx()`).

    Example:

    >>> import kerasimb
    >>> m = kerasimb.metrics.BalancedAccuracy(num_classes=3)
    >>> m.update_state(
    ...     [0, 0, 1, 2],
    ...     [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]],
    ... )
    >>> round(float(m.result()), 4)
    0.8333

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
