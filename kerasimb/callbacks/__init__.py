"""kerasimb.callbacks: filled in by its issue (see DESIGN.md)."""

from kerasimb.callbacks.alpha_schedule import AlphaSchedule
from kerasimb.callbacks.backup import ResumableBackup
from kerasimb.callbacks.batch_norm import RecalibrateBatchNorm, recalibrate_batch_norm
from kerasimb.callbacks.best_weights import BestValidationWeights
from kerasimb.callbacks.deferred_reweighting import DeferredReweighting
from kerasimb.callbacks.divergence import DivergenceMonitor, TrainingDiverged
from kerasimb.callbacks.feature_snapshot import FeatureSnapshot
from kerasimb.callbacks.freeze import FreezeBackbone
from kerasimb.callbacks.sampling import DeferredResampling, ProgressiveSampling

__all__ = [
    "AlphaSchedule",
    "BestValidationWeights",
    "DeferredResampling",
    "DeferredReweighting",
    "DivergenceMonitor",
    "FeatureSnapshot",
    "FreezeBackbone",
    "ProgressiveSampling",
    "RecalibrateBatchNorm",
    "ResumableBackup",
    "TrainingDiverged",
    "recalibrate_batch_norm",
]
