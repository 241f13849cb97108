"""kerasimb.layers: filled in by its issue (see DESIGN.md)."""
