"""evaluate: across grids and CRSs (the Oracle case), reports, and the bad inputs the issue lists."""
import csv
import os

import numpy as np
import pytest
from helpers import ORIGIN, make_raster
from osgeo import osr

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.evaluation.evaluate import EvaluateRequest, evaluate
from low2high.engine.evaluation.metrics import ConfusionMatrix

ALBERS = 5070
UTM18N = 26918


def _classes(rng, shape, nodata_share=0.05):
    values = rng.integers(0, 4, size=shape).astype(np.uint8)
    values[rng.random(shape) < nodata_share] = 255
    return values


def _pair(folder, seed=0, shape=(60, 80)):
    rng = np.random.default_rng(seed)
    reference = _classes(rng, shape)
    prediction = np.where(rng.random(shape) < 0.6, reference, _classes(rng, shape))  # agrees on ~60 % and more
    return (make_raster(os.path.join(folder, "prediction.tif"), prediction, nodata=255),
            make_raster(os.path.join(folder, "reference.tif"), reference, nodata=255), prediction, reference)


def test_same_grid_matches_the_metrics_of_the_arrays(folder):
    prediction_path, reference_path, prediction, reference = _pair(folder)
    result = evaluate(EvaluateRequest(prediction_path, reference_path, window_size=16))
    expected = ConfusionMatrix()
    expected.update(prediction, reference)
    assert np.array_equal(result.metrics.matrix, expected.matrix)
    assert result.comparison.reference_nodata == int((reference == 255).sum())
    assert result.comparison.prediction_nodata == int(((reference != 255) & (prediction == 255)).sum())


def _utm_to_albers():
    utm, albers = osr.SpatialReference(), osr.SpatialReference()
    utm.ImportFromEPSG(UTM18N)
    albers.ImportFromEPSG(ALBERS)
    for srs in (utm, albers):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(utm, albers)


def test_oracle_case_a_30m_albers_prediction_on_a_1m_utm_reference(folder):
    """The prediction is sampled at each reference pixel's centre: compute that independently with PROJ."""
    rng = np.random.default_rng(7)
    rows, cols = 150, 210
    transform = _utm_to_albers()
    # The Albers cells covering the reference, snapped to NLCD's 30 m grid, with a margin.
    corners = [transform.TransformPoint(ORIGIN[0] + dx, ORIGIN[1] - dy)[:2] for dx in (0, cols) for dy in (0, rows)]
    x0 = np.floor(min(c[0] for c in corners) / 30) * 30 - 60
    y0 = np.ceil(max(c[1] for c in corners) / 30) * 30 + 60
    width = int((max(c[0] for c in corners) - x0) // 30) + 3
    height = int((y0 - min(c[1] for c in corners)) // 30) + 3
    coarse = _classes(rng, (height, width), nodata_share=0.1)
    prediction_path = make_raster(os.path.join(folder, "nlcd_albers.tif"), coarse, pixel_size=30.0, epsg=ALBERS,
                                  nodata=255, origin=(x0, y0))
    reference = _classes(rng, (rows, cols))
    reference_path = make_raster(os.path.join(folder, "labels_utm.tif"), reference, nodata=255)

    centres = [(ORIGIN[0] + c + 0.5, ORIGIN[1] - r - 0.5) for r in range(rows) for c in range(cols)]
    albers = np.array(transform.TransformPoints(centres))[:, :2]
    sampled = coarse[np.floor((y0 - albers[:, 1]) / 30).astype(int), np.floor((albers[:, 0] - x0) / 30).astype(int)]
    expected = ConfusionMatrix()
    expected.update(sampled.reshape(rows, cols), reference)

    result = evaluate(EvaluateRequest(prediction_path, reference_path, window_size=64))
    # GDAL's warper approximates the transformation to 1/8 of a 1 m pixel: a pixel centre within
    # centimetres of a 30 m cell edge may fall on the other side. Allow that, and nothing more.
    differing = np.abs(result.metrics.matrix - expected.matrix).sum()
    assert differing <= 2 * 0.001 * rows * cols
    assert result.metrics.accuracy == pytest.approx(expected.compute().accuracy, abs=1e-3)
    assert result.metrics.macro_iou == pytest.approx(expected.compute().macro_iou, abs=1e-3)
    assert "resampled by nearest neighbour" in result.comparison.how and "EPSG:5070" in result.comparison.how


def test_a_coarser_prediction_in_the_same_crs(folder):
    coarse = np.array([[0, 1], [2, 3]], np.uint8)
    prediction_path = make_raster(os.path.join(folder, "p.tif"), coarse, pixel_size=30.0, nodata=255)
    reference = np.kron(coarse, np.ones((30, 30), np.uint8))
    reference[:30, :30] = 1  # the water cell is forest in the reference
    reference_path = make_raster(os.path.join(folder, "r.tif"), reference, nodata=255)
    result = evaluate(EvaluateRequest(prediction_path, reference_path))
    assert result.metrics.accuracy == pytest.approx(0.75)
    assert result.metrics.matrix[1, 0] == 900 and result.metrics.matrix[1, 1] == 900


def test_reports_table_and_html(folder):
    prediction_path, reference_path, prediction, reference = _pair(folder, seed=2)
    table, page = os.path.join(folder, "metrics.csv"), os.path.join(folder, "report.html")
    progress = SilentProgress()
    result = evaluate(EvaluateRequest(prediction_path, reference_path, table, page), progress)
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["row"] for row in rows] == ["class"] * 4 + ["overall", "macro_present", "macro_all"]
    assert [row["class"] for row in rows[:4]] == ["water", "forest", "field", "impervious"]
    matrix = [[int(row[f"predicted_as_{name}"]) for name in ("water", "forest", "field", "impervious")]
              for row in rows[:4]]
    assert np.array_equal(matrix, result.metrics.matrix)
    assert float(rows[4]["precision"]) == pytest.approx(result.metrics.accuracy, abs=1e-6)
    assert float(rows[5]["f1"]) == pytest.approx(result.metrics.macro_f1, abs=1e-6)
    assert float(rows[6]["iou"]) == pytest.approx(result.metrics.macro_iou_all, abs=1e-6)
    text = open(page, encoding="utf-8").read()
    assert "Overall accuracy" in text and "Confusion matrix" in text and "ignored" in text
    assert f"{100 * result.metrics.accuracy:.1f} %" in text
    assert any(line.startswith("  forest: precision") for line in progress.messages)
    assert sorted(name for name in os.listdir(folder) if name.startswith(".")) == []


def test_report_paths_are_checked(folder):
    prediction_path, reference_path, _, _ = _pair(folder)
    with pytest.raises(Low2HighError, match="OUTPUT_TABLE must be a .csv file"):
        evaluate(EvaluateRequest(prediction_path, reference_path, os.path.join(folder, "metrics.txt")))
    with pytest.raises(Low2HighError, match="OUTPUT_HTML must be a .html or .htm file"):
        evaluate(EvaluateRequest(prediction_path, reference_path, html_path=os.path.join(folder, "report.pdf")))
    with pytest.raises(Low2HighError, match="OUTPUT_HTML is the same file as an input, REFERENCE"):
        evaluate(EvaluateRequest(prediction_path, reference_path, html_path=reference_path))
    with pytest.raises(Low2HighError, match="The folder of OUTPUT_HTML does not exist"):
        evaluate(EvaluateRequest(prediction_path, reference_path, html_path=os.path.join(folder, "no", "r.html")))


def test_crss_that_do_not_overlap_are_refused(folder):
    reference_path = make_raster(os.path.join(folder, "r.tif"), np.ones((20, 20), np.uint8))
    far = make_raster(os.path.join(folder, "australia.tif"), np.ones((20, 20), np.uint8), epsg=32755,
                      origin=(330000.0, 6000000.0))
    with pytest.raises(Low2HighError) as error:
        evaluate(EvaluateRequest(far, reference_path))
    message = str(error.value)
    assert "EPSG:32755" in message and "EPSG:26918" in message
    assert "do not overlap" in message or "cannot be transformed" in message
    beside = make_raster(os.path.join(folder, "beside.tif"), np.ones((20, 20), np.uint8),
                         origin=(ORIGIN[0] + 10000, ORIGIN[1]))
    with pytest.raises(Low2HighError, match="do not overlap"):
        evaluate(EvaluateRequest(beside, reference_path))


def test_reference_entirely_nodata_is_refused(folder):
    prediction = make_raster(os.path.join(folder, "p.tif"), np.ones((20, 20), np.uint8), nodata=255)
    reference = make_raster(os.path.join(folder, "r.tif"), np.full((20, 20), 255, np.uint8), nodata=255)
    with pytest.raises(Low2HighError, match="REFERENCE holds only nodata"):
        evaluate(EvaluateRequest(prediction, reference))
    empty = make_raster(os.path.join(folder, "e.tif"), np.full((20, 20), 255, np.uint8), nodata=255)
    labelled = make_raster(os.path.join(folder, "l.tif"), np.ones((20, 20), np.uint8), nodata=255)
    with pytest.raises(Low2HighError, match="PREDICTION has no data where REFERENCE is labelled"):
        evaluate(EvaluateRequest(empty, labelled))


def test_unremapped_or_float_maps_are_refused(folder):
    labelled = make_raster(os.path.join(folder, "l.tif"), np.ones((20, 20), np.uint8))
    raw = make_raster(os.path.join(folder, "nlcd.tif"), np.full((20, 20), 41, np.uint8))
    with pytest.raises(Low2HighError, match=r"PREDICTION holds codes that are not classes 0–3 .*: 41\. Remap it"):
        evaluate(EvaluateRequest(raw, labelled))
    floats = make_raster(os.path.join(folder, "f.tif"), np.ones((20, 20), np.float32))
    with pytest.raises(Low2HighError, match="REFERENCE holds Float32 values"):
        evaluate(EvaluateRequest(labelled, floats))


def test_an_unwritable_html_report_is_refused_before_scoring_and_no_table_is_published(folder, monkeypatch):
    from read_only import make_read_only

    prediction_path, reference_path, _, _ = _pair(folder)
    locked = make_read_only(monkeypatch, os.path.join(folder, "ro"))
    table = os.path.join(folder, "metrics.csv")
    with pytest.raises(Low2HighError, match=r"The folder of OUTPUT_HTML '.*ro' is not writable"):
        evaluate(EvaluateRequest(prediction_path, reference_path, table, os.path.join(locked, "report.html")))
    assert not os.path.exists(table)


def test_the_table_and_the_page_are_published_together_or_not_at_all(folder, monkeypatch):
    """A page that fails after the table is written must not leave the table of the failed run published."""
    from low2high.engine.evaluation import report

    prediction_path, reference_path, _, _ = _pair(folder)
    table, page = os.path.join(folder, "metrics.csv"), os.path.join(folder, "report.html")
    with open(table, "w", encoding="utf-8") as handle:
        handle.write("the previous run's table")

    def failing_page(*args):
        raise Low2HighError("OUTPUT_HTML cannot be written (a stand-in for a full disk).")

    monkeypatch.setattr(report, "html_text", failing_page)
    with pytest.raises(Low2HighError, match="stand-in"):
        evaluate(EvaluateRequest(prediction_path, reference_path, table, page))
    assert open(table, encoding="utf-8").read() == "the previous run's table"
    assert sorted(os.listdir(folder)) == ["metrics.csv", "prediction.tif", "reference.tif"]


def test_a_prediction_over_half_the_reference_says_how_much_was_scored(folder):
    """It said "every reference pixel is scored once" while half of them lay outside the prediction."""
    reference = make_raster(os.path.join(folder, "r.tif"), np.ones((20, 40), np.uint8), nodata=255)
    half = make_raster(os.path.join(folder, "p.tif"), np.ones((10, 10), np.uint8), nodata=255, pixel_size=2.0)
    progress = SilentProgress()
    result = evaluate(EvaluateRequest(half, reference), progress)
    assert result.metrics.total == 400
    assert "Only 50.0% of the labelled REFERENCE pixels were scored (400 of 800): PREDICTION is nodata or " \
           "absent over the rest, so the figures describe that part only. Classify the whole reference area to " \
           "score all of it." in progress.warnings
    assert not any("every reference pixel" in line for line in progress.messages)


def test_probabilities_or_an_image_as_a_class_map_are_refused(folder):
    labelled = make_raster(os.path.join(folder, "l.tif"), np.ones((20, 20), np.uint8))
    probabilities = make_raster(os.path.join(folder, "probabilities.tif"), np.full((4, 20, 20), 1, np.uint8))
    with pytest.raises(Low2HighError, match="^PREDICTION has 4 bands, but a class raster has one band of class codes"):
        evaluate(EvaluateRequest(probabilities, labelled))
