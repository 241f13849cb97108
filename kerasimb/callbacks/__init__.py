"""kerasimb.callbacks: filled in by its issue (see DESIGN.md)."""

from kerasimb.callbacks.deferred_reweighting import DeferredReweighting

__all__ = ["DeferredReweighting"]
