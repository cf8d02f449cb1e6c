"""What every Low2High algorithm shares: help, icons, and turning engine errors into messages.

Subclasses implement :meth:`Low2HighAlgorithm.process` (QGIS owns ``run``) and never keep
state on the instance between runs (QGIS may copy algorithms or run them in parallel).
"""
from __future__ import annotations

import gc
import os
import re
from typing import Any, Callable, Literal, Optional, Sequence, overload

from qgis.core import (
    QgsApplication,
    QgsFileUtils,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProject,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core.errors import USER_ERRORS, Low2HighError
from ..core.resources import resource_path
from ..engine.geo.raster_io import open_raster
from .enums import enum_numbers_as_names

#: What an integer parameter given as text may look like (QGIS turns anything else into 0).
WHOLE_NUMBER = re.compile(r"\s*[+-]?\d+(\.0*)?\s*")


def _reads_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def choice_parameter(name: str, description: str, options: Sequence[str], default: str,
                     advanced: bool = False) -> QgsProcessingParameterEnum:
    """An enum parameter whose value is the option's name (static strings: models and scripts keep
    working when options are added), optionally under the dialog's *Advanced Parameters*."""
    parameter = QgsProcessingParameterEnum(name, description, options=list(options), defaultValue=default)
    parameter.setUsesStaticStrings(True)
    if advanced:
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


def image_layer_parameter(name: str, description: str) -> QgsProcessingParameterRasterLayer:
    """A raster parameter for the image to classify, whose dialog preselects an image of the project.

    QGIS's dialog preselects the active layer, which after a run is the land-cover map just added:
    a single-band class map that nobody means to classify. The dialog's default (a GUI default;
    ``processing.run`` and qgis_process still require the parameter) is therefore the first layer
    of the Layers panel with 4 or more bands, else with 3; with none, QGIS chooses as before.
    """
    parameter = QgsProcessingParameterRasterLayer(name, description)
    image = _project_image_layer()
    if image is not None:
        parameter.setGuiDefaultValueOverride(image.id())
    return parameter


def _project_image_layer() -> Optional[QgsRasterLayer]:
    layers = [layer for layer in QgsProject.instance().layerTreeRoot().layerOrder()
              if isinstance(layer, QgsRasterLayer) and layer.isValid()]
    for bands in (4, 3):
        for layer in layers:
            if layer.bandCount() >= bands:
                return layer
    return None


class FeedbackProgress:
    """The engine's :class:`~low2high.core.progress.Progress` on top of a QGIS feedback.

    qgis_process draws progress as a line of dots ("0...10...20") written without a line break,
    so a log line written meanwhile continued that line ("0...10...step 10/200: loss ..."). There,
    a log line or warning first ends the dots' line; the dots go on below it. The QGIS dialog and
    Python scripts show progress apart from the log and get nothing extra.
    """

    #: qgis_process draws one dot per 2.5 % (QGIS's ConsoleFeedback: 40 ticks, the last ends its line).
    TICKS = 40

    def __init__(self, feedback: QgsProcessingFeedback, dots: Optional[bool] = None) -> None:
        self.feedback = feedback
        self.warnings: list[str] = []
        self.dots = QgsApplication.platform() == "qgis_process" if dots is None else dots
        self._ticks = 0  # dots drawn so far
        self._line_open = False  # dots were drawn since the last line break

    def set_fraction(self, fraction: float) -> None:
        percent = 100.0 * fraction
        self.feedback.setProgress(percent)
        ticks = min(self.TICKS, max(0, int(percent * 0.4)))  # QGIS's own rounding: the same dot count
        if self.dots and ticks > self._ticks:
            self._ticks = ticks
            self._line_open = ticks < self.TICKS  # the last tick ends its line itself (" - done.")

    def is_canceled(self) -> bool:
        return self.feedback.isCanceled()

    def info(self, message: str) -> None:
        self._end_dots()
        self.feedback.pushInfo(message)

    def warn(self, message: str) -> None:
        # pushWarning (QGIS ≥ 3.20): shown as a warning in the dialog's log and by qgis_process,
        # where reportError printed "ERROR: Warning: ...".
        self._end_dots()
        self.warnings.append(message)
        self.feedback.pushWarning(message)

    def _end_dots(self) -> None:
        if self._line_open:
            self.feedback.pushInfo("")  # qgis_process writes it as a bare line break
            self._line_open = False


class Low2HighAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set ``name()``/``displayName()`` and implement ``process``."""

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> "Low2HighAlgorithm":  # noqa: N802
        return type(self)()

    def group(self) -> str:
        return self.tr("Land cover")

    def groupId(self) -> str:  # noqa: N802
        return "landcover"

    def icon(self) -> QIcon:
        return QIcon(self.svgIconPath())

    def svgIconPath(self) -> str:  # noqa: N802
        own = resource_path("icons", f"{self.name()}.svg")
        return own if os.path.exists(own) else resource_path("icons", "low2high.svg")

    def shortHelpString(self) -> str:  # noqa: N802
        path = resource_path("help", f"{self.name()}.html")
        with open(path, encoding="utf-8") as handle:
            # QGIS shows each line break of a help string as a break: the files wrap for reading.
            return " ".join(handle.read().split())

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        try:
            return self.process(enum_numbers_as_names(self, parameters), context, FeedbackProgress(feedback))
        except USER_ERRORS as error:
            message = str(error)
        # The error's traceback holds the failed run's GDAL datasets in a reference cycle: free them
        # now, not at some later collection (which may come after QGIS has shut GDAL down).
        gc.collect()
        raise QgsProcessingException(message)

    def process(self, parameters: dict[str, Any], context: QgsProcessingContext,
                progress: FeedbackProgress) -> dict[str, Any]:
        raise NotImplementedError

    @overload
    def raster_path(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                    optional: Literal[False] = False) -> str: ...

    @overload
    def raster_path(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                    optional: Literal[True]) -> Optional[str]: ...

    def raster_path(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                    optional: bool = False) -> Optional[str]:
        """The file behind a raster layer parameter (None when an optional one is empty).

        The engine reads files through GDAL, so a layer must come from a file GDAL reads.
        """
        if optional and parameters.get(name) in (None, ""):
            return None
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None or layer.providerType() != "gdal":
            raise Low2HighError(f"{name} must be a raster file that GDAL can read; choose a raster file (e.g. a "
                                "GeoTIFF).")
        return layer.source()

    def optional_int(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> Optional[int]:
        """An optional integer parameter: None when left empty ("decide for me"), where
        ``parameterAsInt`` would say 0.

        Raises:
            Low2HighError: text that is not a whole number (``TILE_SIZE=abc``), which
                ``parameterAsInt`` would silently turn into 0 and so into the default.
        """
        if self._left_empty(parameters, name, "a whole number", lambda raw: bool(WHOLE_NUMBER.fullmatch(raw))):
            return None
        return self.parameterAsInt(parameters, name, context)

    def optional_number(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext
                        ) -> Optional[float]:
        """An optional number parameter: None when left empty ("decide for me"), where
        ``parameterAsDouble`` would say 0.

        Raises:
            Low2HighError: text that is not a number, which ``parameterAsDouble`` would read as 0.
        """
        if self._left_empty(parameters, name, "a number", _reads_as_float):
            return None
        return self.parameterAsDouble(parameters, name, context)

    @staticmethod
    def _left_empty(parameters: dict[str, Any], name: str, what: str, accepts: Callable[[str], bool]) -> bool:
        """Whether an optional number parameter was left empty; text that ``accepts`` refuses is an error."""
        raw = parameters.get(name)
        if raw in (None, ""):
            return True
        if isinstance(raw, str) and not accepts(raw):
            raise Low2HighError(f"{name} must be {what} (got '{raw}'); give one, or leave {name} empty for "
                                "the default.")
        return False

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802
                             context: QgsProcessingContext) -> tuple[bool, str]:
        """QGIS's checks, with a sentence saying what to give where QGIS says only "Incorrect parameter
        value" (a file, number, option or extent), and GDAL's reason where QGIS says a raster file
        that exists is "not found".

        Enum options given by number (``DEVICE=1``, the form ``qgis_process help`` advertises) are
        read as the option they number, as QGIS does for enums without static strings.
        """
        parameters = enum_numbers_as_names(self, parameters)
        ok, message = super().checkParameterValues(parameters, context)
        if ok:
            return ok, message
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if not isinstance(value, str) or not value or definition.checkValueIsAcceptable(value, context):
                continue
            if definition.type() == "raster" and os.path.isfile(value):
                try:
                    open_raster(value, f"{definition.name()} file")
                except Low2HighError as error:
                    return False, str(error)
            if definition.type() == "file":
                return False, _file_sentence(definition, value)
            if definition.type() == "number":
                return False, _number_sentence(definition, value)
            if definition.type() == "enum":
                options = definition.options()
                return False, (f"{definition.name()} must be one of {', '.join(options)} (or its number, 0 to "
                               f"{len(options) - 1}), not '{value}'.")
            if definition.type() == "extent":
                return False, (f"{definition.name()} must be 'xmin,xmax,ymin,ymax [EPSG:code]' (e.g. "
                               f"'330000,331000,4309000,4310000 [EPSG:26918]'), not '{value}'.")
        return ok, message


def _number_sentence(definition: QgsProcessingParameterNumber, value: str) -> str:
    """What QGIS's "Incorrect parameter value for OVERLAP" means: the range it accepts."""
    name, low, high = definition.name(), definition.minimum(), definition.maximum()
    whole = definition.dataType() == QgsProcessingParameterNumber.Integer
    kind = "a whole number" if whole else "a number"
    bounded_below, bounded_above = low > -1e300, high < 1e300  # QGIS's "no limit" is ±DBL_MAX
    limits = (f"from {low:g} to {high:g}" if bounded_below and bounded_above else f"of at least {low:g}"
              if bounded_below else f"of at most {high:g}" if bounded_above else "")
    optional = " or leave it empty" if definition.flags() & QgsProcessingParameterDefinition.FlagOptional else ""
    return f"{name} must be {kind}{f' {limits}' if limits else ''} (got '{value}'); give one{optional}."


def _file_sentence(definition: QgsProcessingParameterFile, value: str) -> str:
    """What QGIS's "Incorrect parameter value for MODEL" means: a folder, or a file of another kind."""
    name = definition.name()
    extensions = [definition.extension()] if definition.extension() else \
        QgsFileUtils.extensionsFromFilter(definition.fileFilter())
    wanted = " or ".join(f".{extension.lstrip('.')}" for extension in extensions) or "a"
    what = "is a folder" if os.path.isdir(value) else f"is not a {wanted} file"
    optional = " (or leave it empty)" if definition.flags() & QgsProcessingParameterDefinition.FlagOptional else ""
    return f"{name} '{value}' {what}; choose a {wanted} file for {name}{optional}."
