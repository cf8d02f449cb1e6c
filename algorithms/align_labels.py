"""``low2high:alignlabels``: coarse labels onto an exact n × n block grid of an image."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..engine.labels.alignment import METHODS, AlignRequest, align_labels
from .base import FeedbackProgress, Low2HighAlgorithm, choice_parameter


class AlignLabelsAlgorithm(Low2HighAlgorithm):
    LABELS = "LABELS"
    IMAGE = "IMAGE"
    FACTOR = "FACTOR"
    METHOD = "METHOD"
    OUTPUT = "OUTPUT"

    def name(self) -> str:
        return "alignlabels"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Align coarse labels to image blocks")

    def tags(self) -> list[str]:
        return self.tr("land cover,labels,align,block,grid,NLCD,region aggregation,resample,majority").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.LABELS, self.tr("Coarse labels (e.g. 30 m NLCD)")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.IMAGE, self.tr("Image (its grid is used)")))
        self.addParameter(QgsProcessingParameterNumber(
            self.FACTOR, self.tr("Block side in image pixels (empty: label pixel size ÷ image pixel size)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1, maxValue=10000))
        self.addParameter(choice_parameter(self.METHOD, self.tr("Label of a block"), METHODS, "majority"))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Aligned labels")))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        request = AlignRequest(
            labels_path=self.raster_path(parameters, self.LABELS, context),
            image_path=self.raster_path(parameters, self.IMAGE, context),
            output_path=self.parameterAsOutputLayer(parameters, self.OUTPUT, context),
            factor=self.optional_int(parameters, self.FACTOR, context),
            method=self.parameterAsEnumString(parameters, self.METHOD, context) or "majority",
        )
        result = align_labels(request, progress)
        return {self.OUTPUT: result.output_path}
