"""A file, number, option or extent QGIS refuses says what to give (QGIS: "Incorrect parameter value").

QGIS's own check said only "Incorrect parameter value for MODEL" (issue 18 sweep).
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


def test_a_number_out_of_range_says_the_range(low2high_provider, folder):
    """QGIS's own check said only "Incorrect parameter value for OVERLAP"."""
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("low2high:segment")
    parameters = {"INPUT": IMAGE, "OUTPUT": os.path.join(folder, "map.tif"), "OVERLAP": "100000"}
    ok, message = algorithm.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok and message == ("OVERLAP must be a whole number from 0 to 4096 (got '100000'); give one or leave "
                                  "it empty.")


def test_an_unknown_option_or_a_garbled_extent_says_what_is_accepted(low2high_provider, folder):
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("low2high:segment")
    base = {"INPUT": IMAGE, "OUTPUT": os.path.join(folder, "map.tif")}
    ok, message = algorithm.checkParameterValues({**base, "DEVICE": "gpu"}, QgsProcessingContext())
    assert not ok and message == "DEVICE must be one of auto, cpu, cuda (or its number, 0 to 2), not 'gpu'."
    ok, message = algorithm.checkParameterValues({**base, "EXTENT": "abc"}, QgsProcessingContext())
    assert not ok and message.startswith("EXTENT must be 'xmin,xmax,ymin,ymax [EPSG:code]'") and "not 'abc'" in message
    assert algorithm.checkParameterValues({**base, "DEVICE": "1"}, QgsProcessingContext())[0]
