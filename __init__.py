"""Low2High: land-cover segmentation for QGIS, trained with coarse labels.

The repository root is both the QGIS plugin folder and the Python package ``low2high``.
QGIS calls :func:`classFactory` when it loads the plugin; this module imports nothing else at
import time so that QGIS starts quickly and still starts when torch is not installed.
"""


def classFactory(iface):  # noqa: N802 (name fixed by QGIS)
    """Create the plugin object QGIS asks for (``iface`` is None under qgis_process)."""
    from .low2high_plugin.plugin import Low2HighPlugin

    return Low2HighPlugin(iface)
