"""The Processing provider that lists the Low2High algorithms (id ``low2high``)."""
from __future__ import annotations

import os
from typing import Optional

from qgis.core import QgsApplication, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms import ALGORITHMS
from ..core.resources import resource_path

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


# The provider that register() made. PyQGIS does not keep a Python provider alive on its own: a
# standalone script that drops its reference loses the algorithms ("Algorithm not found"), so this
# module holds it for the life of the process.
_REGISTERED: Optional[Low2HighProvider] = None


def register() -> QgsProcessingProvider:
    """Add the Low2High algorithms to QGIS's Processing registry in one call, for standalone scripts.

    Idempotent: when a provider with id ``low2high`` is already registered (by an earlier call or by
    the plugin itself) that one is returned, so nothing is listed twice. Call it after
    ``QgsApplication.initQgis()`` and ``processing.core.Processing.Processing.initialize()``.
    """
    global _REGISTERED
    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("low2high")
    if existing is not None:
        return existing
    provider = Low2HighProvider()
    if not registry.addProvider(provider):
        raise RuntimeError("QGIS refused to register the Low2High Processing provider")
    _REGISTERED = provider
    return provider


def unregister() -> None:
    """Remove the provider that :func:`register` added (a plugin's own provider is left to it)."""
    global _REGISTERED
    registry = QgsApplication.processingRegistry()
    if _REGISTERED is not None and registry.providerById("low2high") is _REGISTERED:
        registry.removeProvider(_REGISTERED)
    _REGISTERED = None
