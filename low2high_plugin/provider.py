"""The Processing provider that lists the Low2High algorithms (id ``low2high``)."""
from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms import ALGORITHMS
from .resources import resource_path

ICONS = resource_path("icons")


class Low2HighProvider(QgsProcessingProvider):
    def id(self) -> str:  # noqa: A003 (QGIS API)
        return "low2high"

    def name(self) -> str:
        return "Low2High"

    def longName(self) -> str:  # noqa: N802
        return "Low2High land cover (coarse labels → fine maps)"

    def icon(self) -> QIcon:
        return QIcon(os.path.join(ICONS, "low2high.svg"))

    def svgIconPath(self) -> str:  # noqa: N802
        return os.path.join(ICONS, "low2high.svg")

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())

    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802
        """Low2High writes GeoTIFF: colour tables and class names travel with it."""
        return ["tif"]
