"""``python -m low2high.train finetune``: the QGIS algorithm's engine with polygons from a vector file."""
from __future__ import annotations

import os

from finetune_helpers import square
from helpers import ORIGIN, UTM18N
from osgeo import ogr, osr

from low2high.engine.geo.gdal_scope import gdal_session
from low2high.models.checkpoint import read_checkpoint_card
from low2high.train.cli import main


def _areas_file(path: str, epsg: int) -> str:
    """One square over most of the tiny scene, written in ``epsg`` (not the image's CRS when 4326)."""
    target = osr.SpatialReference()
    target.ImportFromEPSG(epsg)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    image = osr.SpatialReference()
    image.ImportFromEPSG(UTM18N)
    image.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    polygon = ogr.CreateGeometryFromWkt(square(ORIGIN[0] + 4, ORIGIN[1] - 4, 112.0))
    polygon.Transform(osr.CoordinateTransformation(image, target))
    with gdal_session():
        source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
        layer = source.CreateLayer("drawn", target, ogr.wkbPolygon)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
        source = None
    return path


def test_areas_from_a_geopackage_in_another_crs_fine_tune_a_model(tune_scene, tmp_path, capsys):
    areas = _areas_file(str(tmp_path / "areas.gpkg"), 4326)
    output = str(tmp_path / "mine.pt")
    code = main(["finetune", "--image", tune_scene["image"], "--labels", tune_scene["labels"], "--model",
                 tune_scene["model"], "--areas-file", areas, "--output", output, "--steps", "2", "--batch-size", "2",
                 "--chip-blocks", "8", "--validation-share", "0", "--exemplar-crop", "32", "--device", "cpu"])
    assert code == 0
    assert os.path.exists(output) and os.path.exists(output[:-3] + ".onnx")
    _, card, _ = read_checkpoint_card(output)
    assert "fine-tuned on image.tif" in card.description
    assert card.training["finetune"]["steps"] == 2
    printed = capsys.readouterr().out
    assert "kept step 2 of 2" in printed and "mIoU" in printed


def test_a_missing_layer_is_one_sentence_and_writes_nothing(tune_scene, tmp_path, capsys):
    areas = _areas_file(str(tmp_path / "areas.gpkg"), UTM18N)
    output = str(tmp_path / "mine.pt")
    code = main(["finetune", "--image", tune_scene["image"], "--labels", tune_scene["labels"], "--model",
                 tune_scene["model"], "--areas-file", areas, "--areas-layer", "roads", "--output", output])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert "no layer 'roads'" in error and "drawn" in error and "Traceback" not in error
    assert sorted(os.listdir(tmp_path)) == ["areas.gpkg"]


def test_polygons_from_both_a_file_and_wkt_are_refused(tune_scene, tmp_path, capsys):
    areas = _areas_file(str(tmp_path / "areas.gpkg"), 4326)
    code = main(["finetune", "--image", tune_scene["image"], "--labels", tune_scene["labels"], "--areas-file", areas,
                 "--areas", tune_scene["areas"][0], "--output", str(tmp_path / "mine.pt")])
    assert code == 2
    assert "not both" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["areas.gpkg"]
