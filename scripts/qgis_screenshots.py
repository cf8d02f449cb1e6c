"""Screenshots of what a QGIS user sees: the segment dialog and a styled land-cover map.

Run inside QGIS desktop on a virtual screen (see `make screenshots`):
    xvfb-run -a qgis --nologo --noversioncheck --code scripts/qgis_screenshots.py
Environment: LOW2HIGH_IMAGE, LOW2HIGH_MAP (rasters to show), LOW2HIGH_SHOTS (output folder).
"""
import os

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface

SHOTS = os.environ.get("LOW2HIGH_SHOTS", "/tmp/low2high-shots")
os.makedirs(SHOTS, exist_ok=True)


def show_layers() -> None:
    image = QgsRasterLayer(os.environ["LOW2HIGH_IMAGE"], "NAIP-like image (sample)")
    land_cover = QgsRasterLayer(os.environ["LOW2HIGH_MAP"], "Land cover (Low2High)")
    QgsProject.instance().addMapLayer(image)
    QgsProject.instance().addMapLayer(land_cover)
    iface.mainWindow().resize(1400, 900)
    iface.mapCanvas().setExtent(land_cover.extent())
    iface.mapCanvas().refresh()
    QTimer.singleShot(4000, grab_map)


def grab_map() -> None:
    iface.mainWindow().grab().save(os.path.join(SHOTS, "map.png"))
    import processing

    dialog = processing.createAlgorithmDialog("low2high:segment")
    dialog.resize(1000, 760)
    dialog.show()
    QTimer.singleShot(2000, lambda: grab_dialog(dialog))


def grab_dialog(dialog) -> None:
    dialog.grab().save(os.path.join(SHOTS, "segment_dialog.png"))
    dialog.close()
    toolbox = iface.mainWindow()
    toolbox.grab().save(os.path.join(SHOTS, "window.png"))
    # Quit the way a user does (File ▸ Exit): QgsApplication.exit() skipped QGIS's own shutdown and
    # the process aborted while tearing down (exit status 134). Nothing to save: the project is clean.
    QgsProject.instance().setDirty(False)
    iface.actionExit().trigger()


QTimer.singleShot(3000, show_layers)
