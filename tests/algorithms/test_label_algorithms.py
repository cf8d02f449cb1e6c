"""low2high:remap, evaluate, alignlabels and aggregatelabels inside real QGIS (pytest-qgis)."""
import os

import numpy as np
import pytest
from helpers import make_raster, read

IDS = ("low2high:remap", "low2high:evaluate", "low2high:alignlabels", "low2high:aggregatelabels")


@pytest.fixture
def nlcd(folder):
    codes = np.kron(np.array([[11, 41, 82], [21, 42, 95]], np.uint8), np.ones((30, 30), np.uint8))
    return make_raster(os.path.join(folder, "nlcd.tif"), codes)


def test_label_algorithms_are_listed_with_help_and_icons(low2high_provider):
    algorithms = {algorithm.id(): algorithm for algorithm in low2high_provider.algorithms()}
    for algorithm_id in IDS:
        algorithm = algorithms[algorithm_id]
        assert algorithm.shortHelpString().strip() and algorithm.displayName()
        assert algorithm.svgIconPath().endswith(f"{algorithm.name()}.svg")


def test_remap_with_a_temporary_output_is_styled(low2high_provider, nlcd):
    import processing
    from qgis.core import QgsProcessing, QgsRasterLayer

    result = processing.run("low2high:remap", {"INPUT": nlcd, "TAXONOMY": "nlcd",
                                               "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    assert read(result["OUTPUT"], 1)[::30, ::30].tolist() == [[0, 1, 2], [3, 1, 2]]
    layer = QgsRasterLayer(result["OUTPUT"], "merged")
    assert layer.isValid() and layer.renderer().type() == "paletted"


def test_remap_with_a_custom_mapping_and_strict_mode(low2high_provider, nlcd):
    import processing
    from qgis.core import QgsProcessing, QgsProcessingException

    result = processing.run("low2high:remap", {"INPUT": nlcd, "TAXONOMY": "custom", "STRICT": False,
                                               "MAPPING": "11:water,41:forest,42:forest,82:field,95:field,21:ignore",
                                               "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    assert read(result["OUTPUT"], 1)[::30, ::30].tolist() == [[0, 1, 2], [255, 1, 2]]
    with pytest.raises(QgsProcessingException, match=r"codes that are not in the custom taxonomy: 21 \(900 pixels\)"):
        processing.run("low2high:remap", {"INPUT": nlcd, "TAXONOMY": "custom",
                                          "MAPPING": "11:water,41:1,42:1,82:2,95:2",
                                          "STRICT": True, "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})


def test_bad_mapping_and_float_labels_give_readable_errors(low2high_provider, nlcd, folder):
    import processing
    from qgis.core import QgsProcessing, QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"MAPPING item 2 \('41=forest'\): expected code:class"):
        processing.run("low2high:remap", {"INPUT": nlcd, "TAXONOMY": "custom", "MAPPING": "11:water,41=forest",
                                          "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    floats = make_raster(os.path.join(folder, "float.tif"), np.ones((8, 8), np.float32))
    with pytest.raises(QgsProcessingException, match="holds Float32 values"):
        processing.run("low2high:remap", {"INPUT": floats, "TAXONOMY": "nlcd",
                                          "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})


def test_evaluate_returns_figures_table_and_report(low2high_provider, folder):
    import processing
    from qgis.core import QgsProcessing

    reference = np.kron(np.array([[0, 1], [2, 3]], np.uint8), np.ones((10, 10), np.uint8))
    prediction = reference.copy()
    prediction[:10, :10] = 1  # water mapped as forest: 100 of 400 pixels wrong
    prediction_path = make_raster(os.path.join(folder, "prediction.tif"), prediction, nodata=255)
    reference_path = make_raster(os.path.join(folder, "reference.tif"), reference, nodata=255)
    result = processing.run("low2high:evaluate", {"PREDICTION": prediction_path, "REFERENCE": reference_path,
                                                  "OUTPUT_TABLE": QgsProcessing.TEMPORARY_OUTPUT,
                                                  "OUTPUT_HTML": QgsProcessing.TEMPORARY_OUTPUT})
    assert result["ACCURACY"] == pytest.approx(0.75)
    # water: F1 0, IoU 0; forest: F1 2·100/(200+100) = 2/3, IoU 1/2; field, impervious: 1
    assert result["F1"] == pytest.approx((0 + 2 / 3 + 1 + 1) / 4)
    assert result["MIOU"] == pytest.approx((0 + 0.5 + 1 + 1) / 4)
    assert result["OUTPUT_TABLE"].endswith(".csv") and os.path.exists(result["OUTPUT_TABLE"])
    assert "Confusion matrix" in open(result["OUTPUT_HTML"], encoding="utf-8").read()


def test_evaluate_without_reports(low2high_provider, folder):
    import processing

    labels = make_raster(os.path.join(folder, "labels.tif"), np.ones((10, 10), np.uint8), nodata=255)
    result = processing.run("low2high:evaluate", {"PREDICTION": labels, "REFERENCE": labels})
    assert result["ACCURACY"] == 1.0 and result["OUTPUT_TABLE"] is None and result["OUTPUT_HTML"] is None


def test_align_and_aggregate_labels(low2high_provider, nlcd, folder):
    import processing
    from qgis.core import QgsProcessing, QgsRasterLayer

    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((3, 60, 90), np.uint8))
    aligned = processing.run("low2high:alignlabels", {"LABELS": nlcd, "IMAGE": image, "FACTOR": 30,
                                                      "METHOD": "majority", "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    layer = QgsRasterLayer(aligned["OUTPUT"], "aligned")
    assert (layer.width(), layer.height()) == (3, 2) and layer.rasterUnitsPerPixelX() == 30
    assert read(aligned["OUTPUT"], 1).tolist() == [[11, 41, 82], [21, 42, 95]]
    aggregated = processing.run("low2high:aggregatelabels", {"INPUT": nlcd, "FACTOR": 15,
                                                            "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    assert read(aggregated["OUTPUT"], 1).shape == (4, 6)


def test_align_without_a_factor_on_labels_at_the_image_resolution_explains(low2high_provider, nlcd, folder):
    import processing
    from qgis.core import QgsProcessing, QgsProcessingException

    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((3, 60, 90), np.uint8))
    with pytest.raises(QgsProcessingException, match="give FACTOR"):
        processing.run("low2high:alignlabels", {"LABELS": nlcd, "IMAGE": image,
                                                "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
