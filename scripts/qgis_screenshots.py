"""Screenshots of what a QGIS user sees: the styled land-cover map, the whole window, the segment dialog.

Run inside QGIS desktop on a virtual screen (see `make screenshots`):
    xvfb-run -a qgis --nologo --noversioncheck --code scripts/qgis_screenshots.py
Environment: LOW2HIGH_IMAGE, LOW2HIGH_MAP (rasters to show), LOW2HIGH_SHOTS (output folder).

Writes map.png (the map canvas: the styled land-cover map), window.png (the QGIS window: the Layers
panel with the map's legend open, the Processing Toolbox on the Low2High algorithms, the map) and
segment_dialog.png (the segment dialog as a user opens it, the image preselected as its input).
Then QGIS quits; a failure quits too, with exit status 1, so `make screenshots` never waits.
"""
import os
import sys
import traceback

from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QDockWidget
from qgis.utils import iface

SHOTS = os.environ.get("LOW2HIGH_SHOTS", "/tmp/low2high-shots")
os.makedirs(SHOTS, exist_ok=True)


def step(function):
    """Run one stage; any error is printed and ends QGIS with status 1 instead of leaving it open."""
    def guarded(*args):
        try:
            function(*args)
        except Exception:  # noqa: BLE001 (anything: a screenshot run must end)
            traceback.print_exc()
            quit_qgis(1)
    return guarded


@step
def show_layers() -> None:
    image = QgsRasterLayer(os.environ["LOW2HIGH_IMAGE"], "NAIP-like image (sample)")
    land_cover = QgsRasterLayer(os.environ["LOW2HIGH_MAP"], "Land cover (Low2High)")
    if not (image.isValid() and land_cover.isValid()):
        raise RuntimeError(f"cannot open {os.environ['LOW2HIGH_IMAGE']} or {os.environ['LOW2HIGH_MAP']}")
    project = QgsProject.instance()
    project.addMapLayer(image)
    project.addMapLayer(land_cover)  # on top, and the active layer: what a user has after a run
    global LAYERS
    LAYERS = (image, land_cover)
    iface.mainWindow().resize(1400, 900)
    iface.mapCanvas().setExtent(land_cover.extent())
    iface.mapCanvas().refresh()
    QTimer.singleShot(4000, grab_map)


LAYERS = ()


@step
def grab_map() -> None:
    # Legends once the Layers panel has drawn the new layers (set earlier, the panel folded them again):
    # the map's four classes and their colours open, the image's band list folded.
    image, land_cover = LAYERS
    view = iface.layerTreeView()
    for layer, expanded in ((image, False), (land_cover, True)):
        node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
        node.setExpanded(expanded)
        view.setExpanded(view.node2index(node), expanded)  # the panel's own (filtering proxy) index
    opened = [node.name() for node in QgsProject.instance().layerTreeRoot().findLayers()
              if view.isExpanded(view.node2index(node))]
    print(f"legend open: {', '.join(opened)}", flush=True)
    iface.mapCanvas().grab().save(os.path.join(SHOTS, "map.png"))
    toolbox = iface.mainWindow().findChild(QDockWidget, "ProcessingToolbox")
    if toolbox is None:
        raise RuntimeError("QGIS has no Processing Toolbox panel")
    toolbox.setVisible(True)
    toolbox.raise_()
    toolbox.searchBox.setText("low2high")  # the Low2High algorithms, unfolded
    QTimer.singleShot(2000, grab_window)


@step
def grab_window() -> None:
    iface.mainWindow().grab().save(os.path.join(SHOTS, "window.png"))
    import processing

    dialog = processing.createAlgorithmDialog("low2high:segment")
    dialog.resize(1000, 760)
    dialog.show()
    QTimer.singleShot(2000, lambda: grab_dialog(dialog))


@step
def grab_dialog(dialog) -> None:
    dialog.grab().save(os.path.join(SHOTS, "segment_dialog.png"))
    chosen = dialog.mainWidget().wrappers["INPUT"].parameterValue()
    layer = QgsProject.instance().mapLayer(chosen) if isinstance(chosen, str) else chosen
    print(f"segment INPUT: {layer.name() if layer is not None else chosen}", flush=True)
    dialog.close()
    quit_qgis(0)


def quit_qgis(status: int) -> None:
    """Quit the way a user does (File ▸ Exit), with nothing to ask.

    QgsApplication.exit() skipped QGIS's own shutdown and the process aborted while tearing down
    (exit status 134). Exit asks about "temporary layers" when a layer's file lies in the temporary
    folder (a map written under /tmp), and waits for an answer nobody gives: the layers go first.
    """
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().setDirty(False)
    if status:
        os._exit(status)  # QGIS's exit status is always 0: a failure must still fail make
    iface.actionExit().trigger()


QTimer.singleShot(3000, show_layers)
sys.stdout.flush()
