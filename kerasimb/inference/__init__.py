"""kerasimb.inference: filled in by its issue (see DESIGN.md)."""
