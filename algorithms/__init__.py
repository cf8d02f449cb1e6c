"""One QgsProcessingAlgorithm per file; they only adapt parameters to the engine."""
from .aggregate_labels import AggregateLabelsAlgorithm
from .align_labels import AlignLabelsAlgorithm
from .evaluate import EvaluateAlgorithm
from .finetune import FinetuneAlgorithm
from .remap import RemapAlgorithm
from .segment import SegmentAlgorithm
from .segment_many import SegmentManyAlgorithm

ALGORITHMS = (SegmentAlgorithm, RemapAlgorithm, EvaluateAlgorithm, AlignLabelsAlgorithm, AggregateLabelsAlgorithm,
              FinetuneAlgorithm, SegmentManyAlgorithm)
