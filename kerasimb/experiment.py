"""experiment.compare: being written (issue 2)."""
