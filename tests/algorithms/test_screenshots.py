"""`make screenshots`: QGIS desktop on a virtual screen takes the three pictures and quits by itself.

It hung at QGIS's "temporary layers" question on exit when the map lay under /tmp (the test's map
does), window.png was map.png again, the map's legend was folded, and the segment dialog offered
the land-cover map as the image to classify.
"""
import os
import shutil
import subprocess
import sysconfig

import numpy as np
import pytest
from helpers import REPO_ROOT, make_raster

pytestmark = pytest.mark.skipif(not (shutil.which("xvfb-run") and shutil.which("qgis")),
                                reason="needs QGIS desktop and xvfb-run")


def test_screenshots_are_three_different_pictures_and_qgis_exits_by_itself(folder):
    classes = np.kron(np.array([[0, 1], [2, 3]], np.uint8), np.ones((64, 64), np.uint8))
    land_cover = make_raster(os.path.join(folder, "land_cover.tif"), classes, nodata=255)
    shots = os.path.join(folder, "shots")
    profile = os.path.join(folder, "qgis-profile")
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=profile, QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    subprocess.run([os.path.join(REPO_ROOT, "scripts", "qgis_process"), "plugins"], env=environment,  # enables it
                   capture_output=True, timeout=120, check=True)
    environment.update(QT_QPA_PLATFORM="xcb", QGIS_PLUGINPATH=os.path.join(REPO_ROOT, ".build", "plugins"),
                       PYTHONPATH=sysconfig.get_path("purelib"), LOW2HIGH_SHOTS=shots, LOW2HIGH_MAP=land_cover,
                       LOW2HIGH_IMAGE=os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif"))
    completed = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", "qgis", "--nologo", "--noversioncheck", "--code",
         os.path.join(REPO_ROOT, "scripts", "qgis_screenshots.py")],
        capture_output=True, text=True, env=environment, timeout=150)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pictures = {}
    for name in ("map.png", "window.png", "segment_dialog.png"):
        with open(os.path.join(shots, name), "rb") as handle:
            pictures[name] = handle.read()
    assert len(set(pictures.values())) == 3
    assert "legend open: Land cover (Low2High)\n" in completed.stdout
    assert "segment INPUT: NAIP-like image (sample)\n" in completed.stdout


def test_the_segment_and_finetune_dialogs_offer_the_image_not_the_class_map(low2high_provider, folder):
    """The dialog's default (QGIS otherwise preselects the active layer: the map just made)."""
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

    classes = make_raster(os.path.join(folder, "classes.tif"), np.zeros((8, 8), np.uint8))
    image = QgsRasterLayer(os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif"), "image")
    land_cover = QgsRasterLayer(classes, "land cover")
    project = QgsProject.instance()
    project.addMapLayers([image, land_cover])
    try:
        for algorithm_id in ("low2high:segment", "low2high:finetune"):
            algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
            parameter = algorithm.parameterDefinition("INPUT")
            assert parameter.guiDefaultValueOverride() == image.id()
            assert parameter.defaultValue() is None  # processing.run and qgis_process still need INPUT
    finally:
        project.removeMapLayers([image.id(), land_cover.id()])
