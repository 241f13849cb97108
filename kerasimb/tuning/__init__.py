"""kerasimb.tuning: filled in by its issue (see DESIGN.md)."""
