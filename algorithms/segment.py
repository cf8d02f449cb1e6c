"""``low2high:segment``: classify an image raster with a Low2High model."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..core.contract import INPUT_STATISTICS
from ..core.devices import DEVICES
from ..core.progress import check_canceled
from ..engine.inference.bands import parse_bands
from ..engine.inference.precision import PRECISIONS
from ..engine.inference.segment import SegmentRequest, segment
from ..engine.labels.colour_refinement import REFINEMENTS
from .base import FeedbackProgress, Low2HighAlgorithm, choice_parameter, image_layer_parameter


class SegmentAlgorithm(Low2HighAlgorithm):
    INPUT = "INPUT"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    MASK = "MASK"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    INPUT_STATISTICS = "INPUT_STATISTICS"
    MIN_MAPPING_UNIT = "MIN_MAPPING_UNIT"
    COLOUR_REFINEMENT = "COLOUR_REFINEMENT"
    BANDS = "BANDS"
    OUTPUT = "OUTPUT"
    OUTPUT_PROBABILITIES = "OUTPUT_PROBABILITIES"

    def name(self) -> str:
        return "segment"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Segment land cover")

    def tags(self) -> list[str]:
        return self.tr("land cover,segmentation,classification,deep learning,NAIP,U-Net,inference").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(image_layer_parameter(self.INPUT, self.tr("Input image (RGB or RGBN, 8-bit)")))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL,
            self.tr("Model (.pt or .onnx, Low2High or Deepness segmentation; empty: the bundled demo model)"),
            behavior=QgsProcessingParameterFile.File, fileFilter=self.tr("Low2High and Deepness models (*.pt *.onnx)"),
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Input bands feeding the model, in its order (e.g. 1,2,3; empty: the raster's first "
                                "bands)"), optional=True))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Only this extent"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.MASK, self.tr("Only inside these polygons"), [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE_SIZE,
            self.tr("Tile size in pixels (multiple of 32; empty: chosen so overlaps cost at most 15 %)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=32, maxValue=8192))
        self.addParameter(QgsProcessingParameterNumber(
            self.OVERLAP, self.tr("Tile overlap in pixels (empty: the model's)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=0, maxValue=4096))
        self.addParameter(QgsProcessingParameterNumber(
            self.BATCH_SIZE, self.tr("Tiles per batch (empty: 1 on CPU, as many as fit on a GPU)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1, maxValue=1024))
        self.addParameter(choice_parameter(self.DEVICE, self.tr("Device"), DEVICES, "auto"))
        self.addParameter(choice_parameter(
            self.PRECISION, self.tr("Precision (auto: the fastest that agrees with fp32 on 99 % of pixels here)"),
            PRECISIONS, "auto"))
        self.addParameter(choice_parameter(
            self.INPUT_STATISTICS,
            self.tr("Input statistics (image: this image's own per-band mean/std, undoing a new flight's "
                    "brightness; model: the training data's; blend: half each; auto: what the model's file asks)"),
            INPUT_STATISTICS, "auto", advanced=True))
        unit = QgsProcessingParameterNumber(
            self.MIN_MAPPING_UNIT,
            self.tr("Minimum mapping unit in m² (smaller patches join their largest neighbour; 0: every pixel as "
                    "classified; empty: the model's)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=0.0)
        unit.setFlags(unit.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(unit)
        self.addParameter(choice_parameter(
            self.COLOUR_REFINEMENT,
            self.tr("Colour refinement (on: sharpen the map with this image's class colours, learnt from the "
                    "model's surest pixels; auto: the model's choice)"),
            REFINEMENTS, "auto", advanced=True))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Land cover")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROBABILITIES, self.tr("Class probabilities (%)"), optional=True, createByDefault=False))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
            progress: FeedbackProgress) -> dict[str, Any]:
        input_path = self.raster_path(parameters, self.INPUT, context)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        probabilities = None
        if parameters.get(self.OUTPUT_PROBABILITIES) is not None:
            probabilities = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROBABILITIES, context) or None
        request = SegmentRequest(
            input_path=input_path,
            output_path=self.parameterAsOutputLayer(parameters, self.OUTPUT, context),
            model_path=self.parameterAsFile(parameters, self.MODEL, context),
            extent=self._extent(parameters, context, layer),
            mask_wkt=self._mask(parameters, context, layer, progress),
            tile_size=self.optional_int(parameters, self.TILE_SIZE, context),
            overlap=self.optional_int(parameters, self.OVERLAP, context),
            batch_size=self.optional_int(parameters, self.BATCH_SIZE, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto",
            precision=self.parameterAsEnumString(parameters, self.PRECISION, context) or "auto",
            input_statistics=self.parameterAsEnumString(parameters, self.INPUT_STATISTICS, context) or "auto",
            probabilities_path=probabilities,
            bands=parse_bands(self.parameterAsString(parameters, self.BANDS, context)),
            min_mapping_unit=self.optional_number(parameters, self.MIN_MAPPING_UNIT, context),
            colour_refinement=self.parameterAsEnumString(parameters, self.COLOUR_REFINEMENT, context) or "auto",
        )
        result = segment(request, progress)
        return {self.OUTPUT: result.output_path, self.OUTPUT_PROBABILITIES: result.probabilities_path}

    def _extent(self, parameters: dict[str, Any], context: QgsProcessingContext, layer) -> Optional[tuple]:
        if parameters.get(self.EXTENT) in (None, ""):
            return None
        rectangle = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
        if rectangle.isNull() or rectangle.isEmpty():
            return None
        return rectangle.xMinimum(), rectangle.yMinimum(), rectangle.xMaximum(), rectangle.yMaximum()

    def _mask(self, parameters: dict[str, Any], context: QgsProcessingContext, layer,
              progress: FeedbackProgress) -> Optional[list[str]]:
        """MASK polygons as WKT in the raster's CRS (None when no mask was given)."""
        if parameters.get(self.MASK) in (None, ""):
            return None
        source = self.parameterAsSource(parameters, self.MASK, context)
        if source is None:
            raise QgsProcessingException(self.tr("The MASK layer could not be read."))
        # QGIS reprojects the features while it reads them (one transform for the whole layer).
        request = QgsFeatureRequest().setDestinationCrs(layer.crs(), context.transformContext())
        polygons = []
        for feature in source.getFeatures(request):
            check_canceled(progress)
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                continue
            polygons.append(geometry.asWkt())
        return polygons
