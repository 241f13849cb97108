"""Recall of the rarest class."""

import numpy as np
from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric
from kerasimb.utils.validation import check_class_counts


@kerasimb_export("kerasimb.metrics.SmallestClassRecall")
class SmallestClassRecall(ConfusionMatrixMetric):
    """Recall of the smallest class, the figure that a long-tailed classifier sacrifices first.

    Which class is "smallest":

    - with `class_counts` (the training split's examples per class): the class with the fewest
      training examples, `argmin(class_counts)`, fixed at construction. If that class has no
      examples in the evaluated data its recall is undefined and the result is 0 (a streaming
      metric never returns NaN; `kerasimb.metrics.report` gives NaN there).
    - without: the class with the fewest (weighted) true examples among the classes present in
      the data seen so far. Before any example has been seen the result is 0.

    Ties go to the lowest class index in both cases.

    Accepts the labels, predictions and sample weights described in `ConfusionMatrixMetric`.

    Args:
        num_classes: int >= 2. Number of classes.
        class_counts: list of int or `None`. Training examples per class, one per class, all
            positive. Defaults to `None` (pick the smallest class of the evaluated data).
        name: str. Name of the metric. Defaults to `"smallest_class_recall"`.
        dtype: str or `None`. Dtype of the state and of the result. Defaults to `None`
            (`keras.backend.floatx()`).

    Example:

    >>> import kerasimb
    >>> y_true = [0, 0, 0, 1, 1, 2]
    >>> y_pred = [[0.9, 0.1, 0.0], [0.8, 0.1, 0.1], [0.1, 0.2, 0.7],
    ...           [0.3, 0.6, 0.1], [0.6, 0.3, 0.1], [0.2, 0.1, 0.7]]
    >>> m = kerasimb.metrics.SmallestClassRecall(num_classes=3)
    >>> m.update_state(y_true, y_pred)
    >>> float(m.result())  # class 2 has the fewest examples here
    1.0
    >>> m = kerasimb.metrics.SmallestClassRecall(num_classes=3, class_counts=[500, 20, 80])
    >>> m.update_state(y_true, y_pred)
    >>> float(m.result())  # class 1 is the rarest in training
    0.5
    """

    def __init__(self, num_classes, class_counts=None, name="smallest_class_recall", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)
        if class_counts is not None:
            class_counts = check_class_counts(class_counts, self.num_classes)
        self.class_counts = class_counts

    def result(self):
        _, true_positives, true_totals, _ = self._counts()
        recall = ops.divide_no_nan(true_positives, true_totals)
        if self.class_counts is not None:
            return recall[int(np.argmin(self.class_counts))]
        present = true_totals > 0
        fewest = ops.min(ops.where(present, true_totals, ops.max(true_totals) + 1.0))
        is_smallest = ops.cast(ops.logical_and(present, true_totals == fewest), "int32")
        first = ops.cast(
            ops.logical_and(is_smallest > 0, ops.cumsum(is_smallest) == 1), self.dtype
        )
        return ops.sum(recall * first)

    def get_config(self):
        counts = None if self.class_counts is None else list(self.class_counts)
        return {**super().get_config(), "class_counts": counts}
