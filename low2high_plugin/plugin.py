"""The QGIS plugin object: registers the Processing provider, nothing else.

``initProcessing`` is what ``qgis_process`` calls (no GUI); QGIS desktop calls ``initGui``.
"""
from __future__ import annotations

from typing import Optional

from qgis.core import QgsApplication

from .provider import Low2HighProvider


class Low2HighPlugin:
    """Adds the Low2High algorithms to the Processing Toolbox, the modeler and qgis_process."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: Optional[Low2HighProvider] = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API)
        if self.provider is None:
            self.provider = Low2HighProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS API)
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
