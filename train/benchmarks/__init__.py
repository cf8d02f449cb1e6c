"""Benchmarks: commands that print measured figures as JSON (never timed unit tests)."""
