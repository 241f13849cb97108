"""kerasimb.layers: filled in by its issue (see DESIGN.md)."""

from kerasimb.layers.quadsnet_block import QuadSNetBlock

__all__ = ["QuadSNetBlock"]
