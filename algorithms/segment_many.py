"""``low2high:segmentmany``: map many rasters as one resumable job on Dask worker processes."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputNumber,
    QgsProcessingOutputRasterLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.devices import DEVICES
from ..core.errors import Low2HighError
from ..engine.inference.precision import PRECISIONS
from ..engine.scale.engine import JobRequest, segment_many
from ..engine.scale.jobs import FAILED, MapSettings
from .base import FeedbackProgress, Low2HighAlgorithm, choice_parameter


class SegmentManyAlgorithm(Low2HighAlgorithm):
    INPUTS = "INPUTS"
    FOLDER = "FOLDER"
    MODEL = "MODEL"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    WORKERS = "WORKERS"
    SCHEDULER = "SCHEDULER"
    DEVICE = "DEVICE"
    PRECISION = "PRECISION"
    STRICT = "STRICT"
    MOSAIC = "MOSAIC"
    SUMMARY = "SUMMARY"
    MAPPED = "MAPPED"
    FAILED = "FAILED"
    REFUSED = "REFUSED"

    def name(self) -> str:
        return "segmentmany"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Segment many rasters (Dask)")

    def tags(self) -> list[str]:
        return self.tr("land cover,segmentation,batch,many,mosaic,dask,cluster,resume,NAIP").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters"), QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.FOLDER, self.tr("Or every GeoTIFF in this folder"), behavior=QgsProcessingParameterFile.Folder,
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model (.pt or .onnx; empty: the bundled demo model)"),
            behavior=QgsProcessingParameterFile.File, fileFilter=self.tr("Low2High and Deepness models (*.pt *.onnx)"),
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Worker processes (empty: one per core, within free memory)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1, maxValue=1024))
        self.addParameter(choice_parameter(self.DEVICE, self.tr("Device"), DEVICES, "auto"))
        self.addParameter(choice_parameter(self.PRECISION, self.tr("Precision"), PRECISIONS, "auto"))
        scheduler = QgsProcessingParameterString(
            self.SCHEDULER, self.tr("Dask scheduler address (empty: worker processes on this computer)"),
            optional=True)
        scheduler.setFlags(scheduler.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(scheduler)
        strict = QgsProcessingParameterBoolean(self.STRICT, self.tr("Stop at the first bad input or failed raster"),
                                               defaultValue=False)
        strict.setFlags(strict.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(strict)
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputRasterLayer(self.MOSAIC, self.tr("Mosaic of the maps")))
        self.addOutput(QgsProcessingOutputFile(self.SUMMARY, self.tr("Summary table")))
        self.addOutput(QgsProcessingOutputNumber(self.MAPPED, self.tr("Rasters mapped")))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, self.tr("Rasters failed")))
        self.addOutput(QgsProcessingOutputNumber(self.REFUSED, self.tr("Inputs refused")))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        inputs = [layer.source() for layer in self.parameterAsLayerList(parameters, self.INPUTS, context)]
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if folder:
            inputs.append(folder)
        if not inputs:
            raise Low2HighError("Choose input rasters, or a folder of GeoTIFFs, to map.")
        settings = MapSettings(
            model_path=self.parameterAsFile(parameters, self.MODEL, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto",
            precision=self.parameterAsEnumString(parameters, self.PRECISION, context) or "auto")
        request = JobRequest(inputs, self.parameterAsString(parameters, self.OUTPUT_FOLDER, context), settings,
                             workers=self.optional_int(parameters, self.WORKERS, context),
                             scheduler=self.parameterAsString(parameters, self.SCHEDULER, context).strip() or None,
                             strict=self.parameterAsBool(parameters, self.STRICT, context))
        report = segment_many(request, progress)
        failed = sum(outcome.status == FAILED for outcome in report.outcomes)
        return {self.OUTPUT_FOLDER: request.output_dir, self.MOSAIC: report.mosaic or None,
                self.SUMMARY: report.summary, self.MAPPED: len(report.outcomes) - len(report.problems),
                self.FAILED: failed, self.REFUSED: len(report.problems) - failed}
