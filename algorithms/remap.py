"""``low2high:remap``: turn a class raster into the merged taxonomy (water, forest, field, impervious)."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..engine.labels.remap import RemapRequest, remap
from ..engine.labels.taxonomy import BUILT_IN
from .base import FeedbackProgress, Low2HighAlgorithm, choice_parameter


class RemapAlgorithm(Low2HighAlgorithm):
    INPUT = "INPUT"
    TAXONOMY = "TAXONOMY"
    MAPPING = "MAPPING"
    STRICT = "STRICT"
    OUTPUT = "OUTPUT"

    TAXONOMIES = BUILT_IN + ("custom",)

    def name(self) -> str:
        return "remap"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Remap land-cover labels")

    def tags(self) -> list[str]:
        return self.tr("land cover,labels,taxonomy,reclassify,NLCD,Chesapeake,EnviroAtlas,lookup table").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Label raster (class codes)")))
        self.addParameter(choice_parameter(self.TAXONOMY, self.tr("Taxonomy of the labels"), self.TAXONOMIES,
                                           "nlcd"))
        self.addParameter(QgsProcessingParameterString(
            self.MAPPING, self.tr("Custom mapping (code:class,… or a .json / .csv file; custom taxonomy only)"),
            optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.STRICT, self.tr("Stop on codes the taxonomy does not list (else they become nodata)"),
            defaultValue=False, optional=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Merged land cover")))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        request = RemapRequest(
            input_path=self.raster_path(parameters, self.INPUT, context),
            output_path=self.parameterAsOutputLayer(parameters, self.OUTPUT, context),
            taxonomy=self.parameterAsEnumString(parameters, self.TAXONOMY, context) or "nlcd",
            mapping=self.parameterAsString(parameters, self.MAPPING, context) or "",
            strict=self.parameterAsBool(parameters, self.STRICT, context),
        )
        result = remap(request, progress)
        return {self.OUTPUT: result.output_path}
