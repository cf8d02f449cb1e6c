"""``low2high:aggregatelabels``: a fine class raster reduced to n × n blocks by majority (QA)."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..engine.labels.alignment import AggregateRequest, aggregate_labels
from .base import FeedbackProgress, Low2HighAlgorithm


class AggregateLabelsAlgorithm(Low2HighAlgorithm):
    INPUT = "INPUT"
    FACTOR = "FACTOR"
    COARSE = "COARSE"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "aggregatelabels"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Aggregate fine labels to blocks (majority)")

    def tags(self) -> list[str]:
        return self.tr("land cover,labels,aggregate,majority,mode,downsample,block,QA").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Fine class raster")))
        self.addParameter(QgsProcessingParameterNumber(
            self.FACTOR, self.tr("Block side in pixels (empty: from the coarse raster's pixel size)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=2, maxValue=10000))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.COARSE, self.tr("Coarse raster whose pixel size sets the block side"), optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Aggregated labels")))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        request = AggregateRequest(
            input_path=self.raster_path(parameters, self.INPUT, context),
            output_path=self.parameterAsOutputLayer(parameters, self.OUTPUT, context),
            factor=self.optional_int(parameters, self.FACTOR, context),
            coarse_path=self.raster_path(parameters, self.COARSE, context, optional=True),
        )
        result = aggregate_labels(request, progress)
        return {self.OUTPUT: result.output_path}
