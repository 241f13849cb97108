"""kerasimb.callbacks: filled in by its issue (see DESIGN.md)."""
