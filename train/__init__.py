"""Headless training of Low2High models: datasets, losses, loops, distributed runs, benchmarks.

Run ``python -m low2high.train --help``. Nothing here imports QGIS.
"""
