"""``low2high:finetune``: teach a model the user's own imagery from coarse labels, on areas they draw."""
from __future__ import annotations

import os
from typing import Any, Optional

from qgis.core import (
    QgsCoordinateTransform,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.dependencies import require
from ..core.devices import DEVICES
from ..core.progress import check_canceled
from ..core.publication import Publication
from ..engine.geo.raster_io import stage_raster
from ..engine.labels.taxonomy import BUILT_IN
from .base import FeedbackProgress, Low2HighAlgorithm, choice_parameter, image_layer_parameter

_FREEZE = ("auto", "yes", "no")


def _losses() -> tuple[str, ...]:
    """LOSS choices: the training modes' table, which imports no torch (QGIS builds this list at start).

    Their order is the enum's: saved graphical models store option numbers, and the table only appends.
    """
    from ..train.modes import FINETUNE_LOSSES

    return FINETUNE_LOSSES


def _normalisations() -> tuple[str, ...]:
    from ..train.finetune.config import NORMALISATIONS

    return NORMALISATIONS


class _Defaults:
    """FinetuneConfig's defaults, read when a parameter is built (the dataclass is the one place they are set)."""

    def __getattr__(self, name: str) -> Any:
        from ..train.finetune.config import FinetuneConfig

        return getattr(FinetuneConfig(), name)


_DEFAULTS = _Defaults()


class FinetuneAlgorithm(Low2HighAlgorithm):
    INPUT = "INPUT"
    LOW_RES_LABELS = "LOW_RES_LABELS"
    LABEL_TAXONOMY = "LABEL_TAXONOMY"
    LABEL_MAPPING = "LABEL_MAPPING"
    AREAS = "AREAS"
    EXEMPLARS = "EXEMPLARS"
    MODEL = "MODEL"
    LOSS = "LOSS"
    PRIOR = "PRIOR"
    STEPS = "STEPS"
    LEARNING_RATE = "LEARNING_RATE"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    SEED = "SEED"
    FREEZE_ENCODER = "FREEZE_ENCODER"
    AUGMENT = "AUGMENT"
    VALIDATION_SHARE = "VALIDATION_SHARE"
    NORMALISATION = "NORMALISATION"
    TEACHER = "TEACHER"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_MAP = "OUTPUT_MAP"
    OUTPUT_PLOT = "OUTPUT_PLOT"

    TAXONOMIES = BUILT_IN + ("merged", "custom")

    def name(self) -> str:
        return "finetune"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Fine-tune a model on your imagery")

    def tags(self) -> list[str]:
        return self.tr("land cover,fine-tuning,training,domain adaptation,NLCD,coarse labels,region aggregation,"
                       "deep learning").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(image_layer_parameter(self.INPUT, self.tr("Image to adapt to (8-bit, the model's bands)")))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.LOW_RES_LABELS, self.tr("Coarse labels (e.g. 30 m NLCD, raw codes, any CRS)")))
        self._enum(self.LABEL_TAXONOMY, self.tr("Taxonomy of the coarse labels"), self.TAXONOMIES, "nlcd")
        self.addParameter(QgsProcessingParameterString(
            self.LABEL_MAPPING, self.tr("Custom mapping (code:class,… or a .json / .csv file; custom taxonomy only)"),
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.AREAS, self.tr("Areas to learn from (polygons)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.EXEMPLARS, self.tr("1 m label exemplars, merged classes (empty: the bundled real ones)"),
            optional=True))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model to start from (.pt; empty: the bundled demo model)"),
            behavior=QgsProcessingParameterFile.File, fileFilter=self.tr("Low2High checkpoints (*.pt)"),
            optional=True))
        self._enum(self.LOSS, self.tr("Loss"), _losses(), _DEFAULTS.loss)
        self.addParameter(QgsProcessingParameterFile(
            self.PRIOR, self.tr("Coarse prior p(class | code), JSON (empty: the bundled one for NLCD)"),
            behavior=QgsProcessingParameterFile.File, fileFilter=self.tr("JSON (*.json)"), optional=True))
        self._integer(self.STEPS, self.tr("Steps"), _DEFAULTS.steps, 1, 100000)
        self.addParameter(QgsProcessingParameterNumber(
            self.LEARNING_RATE, self.tr("Learning rate"), QgsProcessingParameterNumber.Double,
            defaultValue=_DEFAULTS.lr, minValue=1e-7, maxValue=1.0))
        self._integer(self.BATCH_SIZE, self.tr("Chips per step"), _DEFAULTS.batch_size, 1, 256)
        self._enum(self.DEVICE, self.tr("Device"), DEVICES, "auto")
        self._integer(self.SEED, self.tr("Seed"), 0, 0, 2 ** 31 - 1)
        self._enum(self.FREEZE_ENCODER, self.tr("Freeze the encoder (auto: when the areas hold fewer than 400 "
                                                "blocks)"), _FREEZE, "auto")
        self.addParameter(QgsProcessingParameterBoolean(self.AUGMENT, self.tr("Random flips and quarter turns"),
                                                        defaultValue=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.VALIDATION_SHARE, self.tr("Share of blocks held out to keep the best step and stop early"),
            QgsProcessingParameterNumber.Double, defaultValue=_DEFAULTS.validation_share, minValue=0.0, maxValue=0.9))
        self._enum(self.NORMALISATION, self.tr("Input statistics (image: the areas' own, undoing a new flight's "
                                               "radiometry; model: the base model's; blend: half each; auto: "
                                               "segment's rule)"), _normalisations(), _DEFAULTS.normalisation)
        self.addParameter(QgsProcessingParameterNumber(
            self.TEACHER, self.tr("Weight of the base model's own predictions as a second target (0: off)"),
            QgsProcessingParameterNumber.Double, defaultValue=_DEFAULTS.teacher, minValue=0.0, maxValue=1000.0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Fine-tuned model (.pt; an .onnx export is written beside it)"),
            fileFilter=self.tr("Low2High checkpoints (*.pt)")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_MAP, self.tr("Land cover of the areas with the new model"), optional=True,
            createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_PLOT, self.tr("Training curve"), fileFilter=self.tr("PNG images (*.png)"), optional=True,
            createByDefault=False))

    def _enum(self, name: str, label: str, options: tuple[str, ...], default: str) -> None:
        self.addParameter(choice_parameter(name, label, options, default))

    def _integer(self, name: str, label: str, default: int, low: int, high: int) -> None:
        self.addParameter(QgsProcessingParameterNumber(name, label, QgsProcessingParameterNumber.Integer,
                                                       defaultValue=default, minValue=low, maxValue=high))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        require("torch", "fine-tuning")
        from ..train.finetune.config import FinetuneConfig
        from ..train.finetune.destinations import check_finetune_outputs
        from ..train.finetune.task import finetune, write_plot

        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        freeze = self.parameterAsEnumString(parameters, self.FREEZE_ENCODER, context) or "auto"
        map_path = self._optional_output(parameters, self.OUTPUT_MAP, context, raster=True)
        plot_path = self._optional_output(parameters, self.OUTPUT_PLOT, context, raster=False)
        config = FinetuneConfig(
            image=self.raster_path(parameters, self.INPUT, context) or "",
            labels=self.raster_path(parameters, self.LOW_RES_LABELS, context) or "",
            output=self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context),
            areas=self._areas(parameters, context, layer, progress),
            taxonomy=self.parameterAsEnumString(parameters, self.LABEL_TAXONOMY, context) or "nlcd",
            mapping=self.parameterAsString(parameters, self.LABEL_MAPPING, context) or "",
            model=self.parameterAsFile(parameters, self.MODEL, context) or "",
            exemplars=self.raster_path(parameters, self.EXEMPLARS, context, optional=True) or "",
            loss=self.parameterAsEnumString(parameters, self.LOSS, context) or _DEFAULTS.loss,
            prior=self.parameterAsFile(parameters, self.PRIOR, context) or "",
            steps=self.parameterAsInt(parameters, self.STEPS, context),
            lr=self.parameterAsDouble(parameters, self.LEARNING_RATE, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto",
            seed=self.parameterAsInt(parameters, self.SEED, context),
            freeze_encoder=None if freeze == "auto" else freeze == "yes",
            augment=self.parameterAsBool(parameters, self.AUGMENT, context),
            validation_share=self.parameterAsDouble(parameters, self.VALIDATION_SHARE, context),
            normalisation=(self.parameterAsEnumString(parameters, self.NORMALISATION, context)
                           or _DEFAULTS.normalisation),
            teacher=self.parameterAsDouble(parameters, self.TEACHER, context),
        )
        # every output against every input and every other output, before the training
        destinations = check_finetune_outputs(config, map_path, plot_path)
        with Publication(check=lambda: check_canceled(progress)) as publication:  # every output or none
            result = finetune(config, progress, publication)
            if destinations.plot:
                title = f"finetune of {os.path.basename(config.model or 'demo.pt')} on {os.path.basename(config.image)}"
                write_plot(publication.stage(destinations.plot), result, title)
            if destinations.map:
                self._map(config, publication.staged(result.output), stage_raster(publication, destinations.map),
                          progress)
        return {self.OUTPUT_MODEL: result.output, self.OUTPUT_MAP: destinations.map,
                self.OUTPUT_PLOT: destinations.plot}

    def _optional_output(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                         raster: bool) -> Optional[str]:
        if parameters.get(name) is None:
            return None
        if raster:
            return self.parameterAsOutputLayer(parameters, name, context) or None
        return self.parameterAsFileOutput(parameters, name, context) or None

    def _map(self, config: Any, model: str, output: str, progress: FeedbackProgress) -> None:
        """OUTPUT_MAP: the drawn areas classified by the new model (the segment engine, MASK = AREAS).

        ``model`` and ``output`` are the run's hidden files: the map is published with the model.
        """
        from ..engine.inference.segment import SegmentRequest, segment

        progress.info("Classifying the areas with the fine-tuned model (OUTPUT_MAP).")
        request = SegmentRequest(input_path=config.image, output_path=output, model_path=model,
                                 mask_wkt=config.areas, device=config.device)
        segment(request, progress)

    def _areas(self, parameters: dict[str, Any], context: QgsProcessingContext, layer,
               progress: FeedbackProgress) -> list[str]:
        """AREAS polygons as WKT in the image's CRS, invalid ones (a bow-tie) repaired with a log line."""
        from ..train.finetune.repair import repair_polygons

        source = self.parameterAsSource(parameters, self.AREAS, context)
        if source is None:
            raise QgsProcessingException(self.tr("The AREAS layer could not be read."))
        transform = QgsCoordinateTransform(source.sourceCrs(), layer.crs(), context.transformContext())
        polygons = []
        for feature in source.getFeatures():
            check_canceled(progress)
            geometry = feature.geometry()
            if geometry.isNull() or geometry.isEmpty():
                continue
            geometry.transform(transform)
            polygons.append(geometry.asWkt())
        return repair_polygons(polygons, progress)
