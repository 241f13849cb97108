"""Macro-averaged F1 score."""

from keras import ops

from kerasimb.api_export import kerasimb_export
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric, shared_docstring


@kerasimb_export("kerasimb.metrics.MacroF1")
@shared_docstring(result="0.7778")
class MacroF1(ConfusionMatrixMetric):
    """Unweighted mean of the per-class F1 scores.

    F1 of class `k` is `2 * TP_k / (2 * TP_k + FP_k + FN_k)` on the accumulated confusion
    matrix. The mean runs over the classes that occur in the labels or in the predictions seen
    so far (the classes `sklearn.metrics.f1_score(average="macro")` uses by default), so a class
    never seen and never predicted does not pull the score down, while a class that is
    predicted but never true, or true but never predicted, counts with F1 = 0. Presence is
    judged on the weighted matrix: an example with `sample_weight` 0 does not make its class
    present. Before any example has been seen the result is 0.

    {shared}
    """

    def __init__(self, num_classes, name="macro_f1", dtype=None):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype)

    def result(self):
        _, true_positives, true_totals, pred_totals = self._counts()
        support = true_totals + pred_totals  # = 2 TP + FP + FN
        present = ops.cast(support > 0, self.dtype)
        f1 = ops.divide_no_nan(2.0 * true_positives, support)
        return ops.divide_no_nan(ops.sum(f1 * present), ops.sum(present))
