"""Low2High: land-cover segmentation for QGIS, trained with coarse labels.

The repository root is both the QGIS plugin folder and the Python package ``low2high``.
QGIS calls :func:`classFactory` when it loads the plugin; this module imports nothing else at
import time so that QGIS starts quickly and still starts when torch is not installed.
"""
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: importing QGIS here would slow QGIS's start-up
    from qgis.core import QgsProcessingProvider


def classFactory(iface):  # noqa: N802 (name fixed by QGIS)
    """Create the plugin object QGIS asks for (``iface`` is None under qgis_process)."""
    from .low2high_plugin.plugin import Low2HighPlugin

    return Low2HighPlugin(iface)


def register() -> "QgsProcessingProvider":
    """Register the Low2High Processing provider from a standalone PyQGIS script, in one call.

    Without it a script must build the provider and keep a reference to it itself, or its
    algorithms vanish ("Algorithm not found") once Python collects the object. Idempotent;
    QGIS is imported only here, so ``import low2high`` stays cheap and QGIS-free.
    """
    from .low2high_plugin.provider import register as _register

    return _register()


def unregister() -> None:
    """Remove the provider :func:`register` added (for scripts that tidy up before exitQgis)."""
    from .low2high_plugin.provider import unregister as _unregister

    _unregister()
