"""A model file parameter given a folder or another kind of file says which and what to give (issue 18's sweep).

QGIS's own check said only "Incorrect parameter value for MODEL".
"""
import os

from helpers import REPO_ROOT

IMAGE = os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif")


def test_a_folder_or_a_raster_as_model_is_one_sentence(low2high_provider, folder):
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("low2high:segment")
    context = QgsProcessingContext()
    target = os.path.join(folder, "map.tif")
    ok, message = algorithm.checkParameterValues({"INPUT": IMAGE, "MODEL": folder, "OUTPUT": target}, context)
    assert not ok
    assert message == f"MODEL '{folder}' is a folder; choose a .pt or .onnx file for MODEL (or leave it empty)."
    ok, message = algorithm.checkParameterValues({"INPUT": IMAGE, "MODEL": IMAGE, "OUTPUT": target}, context)
    assert not ok and message.startswith(f"MODEL '{IMAGE}' is not a .pt or .onnx file; choose")
    assert algorithm.checkParameterValues({"INPUT": IMAGE, "MODEL": "", "OUTPUT": target}, context)[0]
