"""kerasimb.callbacks: filled in by its issue (see DESIGN.md)."""

from kerasimb.callbacks.deferred_reweighting import DeferredReweighting
from kerasimb.callbacks.sampling import DeferredResampling, ProgressiveSampling

__all__ = ["DeferredResampling", "DeferredReweighting", "ProgressiveSampling"]
