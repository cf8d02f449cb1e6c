"""One QgsProcessingAlgorithm per file; they only adapt parameters to the engine."""
from .segment import SegmentAlgorithm

ALGORITHMS = (SegmentAlgorithm,)
