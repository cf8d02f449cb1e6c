"""segment's minimum mapping unit: the sieve of the whole merged map, the model's by default, 0 turns it off."""
import dataclasses
import os
import shutil

import numpy as np
import pytest
from helpers import REPO_ROOT, read
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.inference.model import DEMO_MODEL
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.labels.mapping_unit import sieve_class_raster
from low2high.models.checkpoint import load_checkpoint, save_checkpoint

SAMPLE = os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif")
SIDE = 512
UNIT = 60  # m², 60 pixels of the 1 m sample


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("unit") / "crop.tif")
    gdal.Translate(path, SAMPLE, srcWin=[0, 0, SIDE, SIDE])
    return path


@pytest.fixture(scope="module")
def unsieved(crop, tmp_path_factory):
    """The map as classified, tiled (384-px tiles), with the unit off."""
    path = str(tmp_path_factory.mktemp("raw") / "raw.tif")
    segment(SegmentRequest(crop, path, DEMO_MODEL, tile_size=384, precision="fp32", min_mapping_unit=0))
    return path


def patch_sizes(classes: np.ndarray) -> list[int]:
    """Pixel counts of the 8-connected patches of one class (GDAL's polygonize; pixels are 1 m²)."""
    from osgeo import ogr

    rows, cols = classes.shape
    raster = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_Byte)
    raster.SetGeoTransform((0, 1, 0, rows, 0, -1))
    raster.GetRasterBand(1).WriteArray(classes)
    source = ogr.GetDriverByName("Memory").CreateDataSource("")  # kept: a layer outliving its source crashes
    layer = source.CreateLayer("patches")
    layer.CreateField(ogr.FieldDefn("class", ogr.OFTInteger))
    gdal.Polygonize(raster.GetRasterBand(1), None, layer, 0, ["8CONNECTED=8"])
    return [round(feature.GetGeometryRef().GetArea()) for feature in layer]


def test_the_unit_sieves_the_merged_map_and_shares_follow(crop, unsieved, tmp_path):
    raw = read(unsieved)
    assert min(patch_sizes(raw)) < UNIT  # the demo leaves specks here: the test can fail
    result = segment(SegmentRequest(crop, str(tmp_path / "map.tif"), DEMO_MODEL, tile_size=384, precision="fp32",
                                    min_mapping_unit=UNIT))
    expected = str(tmp_path / "expected.tif")
    shutil.copy(unsieved, expected)
    sieve_class_raster(expected, UNIT, SilentProgress())
    sieved = read(result.output_path)
    assert (sieved == read(expected)).all()  # one sieve of the whole map: tiles do not matter
    assert min(patch_sizes(sieved)) >= UNIT
    counts = np.bincount(sieved.ravel(), minlength=4)[:4]
    assert result.class_shares() == pytest.approx(dict(zip(result.model.class_names, counts / counts.sum())))


def test_the_models_card_gives_the_default_and_0_turns_it_off(crop, unsieved, tmp_path):
    loaded = load_checkpoint(DEMO_MODEL)
    model = str(tmp_path / "speckless.pt")
    save_checkpoint(model, loaded.build_model(), dataclasses.replace(loaded.card, min_mapping_unit=float(UNIT)))
    by_card = read(segment(SegmentRequest(crop, str(tmp_path / "card.tif"), model, tile_size=384,
                                          precision="fp32")).output_path)
    off = read(segment(SegmentRequest(crop, str(tmp_path / "off.tif"), model, tile_size=384, precision="fp32",
                                      min_mapping_unit=0)).output_path)
    assert min(patch_sizes(by_card)) >= UNIT
    assert (off == read(unsieved)).all()


def test_a_negative_unit_is_refused_before_any_work(crop, tmp_path):
    with pytest.raises(Low2HighError, match="MIN_MAPPING_UNIT"):
        segment(SegmentRequest(crop, str(tmp_path / "map.tif"), DEMO_MODEL, min_mapping_unit=-1))
    assert os.listdir(tmp_path) == []
