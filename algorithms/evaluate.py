"""``low2high:evaluate``: accuracy, macro F1 and macro mIoU of a class map against a reference."""
from __future__ import annotations

from typing import Any, Optional

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)

from ..engine.evaluation.evaluate import EvaluateRequest, evaluate
from .base import FeedbackProgress, Low2HighAlgorithm


class EvaluateAlgorithm(Low2HighAlgorithm):
    PREDICTION = "PREDICTION"
    REFERENCE = "REFERENCE"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    OUTPUT_HTML = "OUTPUT_HTML"
    ACCURACY = "ACCURACY"
    F1 = "F1"
    MIOU = "MIOU"
    F1_ALL = "F1_ALL"
    MIOU_ALL = "MIOU_ALL"

    def name(self) -> str:
        return "evaluate"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Evaluate a land-cover map")

    def tags(self) -> list[str]:
        return self.tr("land cover,accuracy,F1,IoU,mIoU,confusion matrix,validation,oracle").split(",")

    def initAlgorithm(self, config: Optional[dict] = None) -> None:  # noqa: N802
        self.addParameter(QgsProcessingParameterRasterLayer(self.PREDICTION, self.tr("Land-cover map to evaluate")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE, self.tr("Reference land cover")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_TABLE, self.tr("Per-class table and confusion matrix"), self.tr("CSV files (*.csv)"),
            optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_HTML, self.tr("Evaluation report"), self.tr("HTML files (*.html)"),
            optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(self.ACCURACY, self.tr("Overall accuracy (0–1)")))
        self.addOutput(QgsProcessingOutputNumber(self.F1, self.tr("Macro F1 over the classes present (0–1)")))
        self.addOutput(QgsProcessingOutputNumber(self.MIOU, self.tr("Macro mIoU over the classes present (0–1)")))
        self.addOutput(QgsProcessingOutputNumber(self.F1_ALL, self.tr("Macro F1 over all 4 classes (0–1)")))
        self.addOutput(QgsProcessingOutputNumber(self.MIOU_ALL, self.tr("Macro mIoU over all 4 classes (0–1)")))

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        request = EvaluateRequest(
            prediction_path=self.raster_path(parameters, self.PREDICTION, context),
            reference_path=self.raster_path(parameters, self.REFERENCE, context),
            table_path=self._destination(parameters, self.OUTPUT_TABLE, context),
            html_path=self._destination(parameters, self.OUTPUT_HTML, context),
        )
        result = evaluate(request, progress)
        metrics = result.metrics
        return {self.OUTPUT_TABLE: result.table_path, self.OUTPUT_HTML: result.html_path,
                self.ACCURACY: metrics.accuracy, self.F1: metrics.macro_f1, self.MIOU: metrics.macro_iou,
                self.F1_ALL: metrics.macro_f1_all, self.MIOU_ALL: metrics.macro_iou_all}

    def _destination(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> Optional[str]:
        if parameters.get(name) is None:
            return None
        return self.parameterAsFileOutput(parameters, name, context) or None
