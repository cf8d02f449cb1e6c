"""The rules every part of Low2High uses, importing nothing of ours.

Errors and cancellation, progress, signals, devices, dependencies and bundled resources; the input
contract (normalisation and statistics); the one destination check and the one same-file rule; and
publishing outputs (a file atomically, a run's outputs all together or not at all). Everything above
(models, engine, train, the QGIS algorithms and glue) may import these; they import only the standard
library and NumPy.
"""
