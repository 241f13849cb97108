"""kerasimb.metrics: being written (issue 2)."""
