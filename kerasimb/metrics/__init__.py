"""Imbalance-aware classification metrics.

Streaming Keras metrics for `model.compile`, all computed from one accumulated confusion matrix
(`ConfusionMatrixMetric`), `report()`, every figure at once for numpy predictions, the
calibration figures (`expected_calibration_error`, `brier_score`, ...) it includes, and
`paired_bootstrap()`, a method's difference from its baseline with a confidence interval over
seeds and test images (`verdict_from_interval` reads it; `resampled_metric` computes a figure on
many resamples at once).
"""

from kerasimb.metrics.balanced_accuracy import BalancedAccuracy
from kerasimb.metrics.bootstrap import (BOOTSTRAP_METRICS, paired_bootstrap, resampled_metric,
                                        verdict_from_interval)
from kerasimb.metrics.calibration import (
    CALIBRATION_METRICS,
    brier_score,
    calibration_figures,
    classwise_expected_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)
from kerasimb.metrics.confusion_matrix import ConfusionMatrixMetric
from kerasimb.metrics.macro_f1 import MacroF1
from kerasimb.metrics.matthews_correlation import MatthewsCorrelation
from kerasimb.metrics.quadratic_kappa import QuadraticKappa
from kerasimb.metrics.report import SCALAR_METRICS, report
from kerasimb.metrics.smallest_class_recall import SmallestClassRecall

__all__ = [
    "BOOTSTRAP_METRICS",
    "BalancedAccuracy",
    "ConfusionMatrixMetric",
    "MacroF1",
    "MatthewsCorrelation",
    "QuadraticKappa",
    "SmallestClassRecall",
    "SCALAR_METRICS",
    "CALIBRATION_METRICS",
    "brier_score",
    "calibration_figures",
    "classwise_expected_calibration_error",
    "expected_calibration_error",
    "negative_log_likelihood",
    "paired_bootstrap",
    "reliability_bins",
    "report",
    "resampled_metric",
    "verdict_from_interval",
]
