"""A raster without georeferencing, or not north-up, is named in one sentence by every tool that opens it."""
import os

import numpy as np
import pytest
from helpers import make_raster
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.engine.evaluation.evaluate import EvaluateRequest, evaluate


def _plain(path: str, geotransform=None) -> str:
    """A Byte raster of class 1 with no geotransform (a scan, a PNG saved as .tif) or the one given."""
    dataset = gdal.GetDriverByName("GTiff").Create(path, 20, 20, 1, gdal.GDT_Byte)
    dataset.GetRasterBand(1).WriteArray(np.ones((20, 20), np.uint8))
    if geotransform:
        dataset.SetGeoTransform(geotransform)
    dataset = None
    return path


@pytest.mark.parametrize("which", ["PREDICTION", "REFERENCE"])
def test_evaluate_names_the_raster_without_georeferencing(folder, which):
    """It said "the raster's geotransform is not north-up" without saying which of the two."""
    plain = _plain(os.path.join(folder, "scan.tif"))
    labelled = make_raster(os.path.join(folder, "labels.tif"), np.ones((20, 20), np.uint8), nodata=255)
    pair = (plain, labelled) if which == "PREDICTION" else (labelled, plain)
    with pytest.raises(Low2HighError, match=rf"^The {which} raster 'scan.tif' has no georeferencing .*Georeference it "
                                            r"first \(Raster ▸ Georeferencer\)"):
        evaluate(EvaluateRequest(*pair))


def test_a_flipped_raster_is_named_and_warping_is_advised(folder):
    flipped = _plain(os.path.join(folder, "flipped.tif"), (500000.0, 1.0, 0.0, 4000000.0, 0.0, 1.0))
    labelled = make_raster(os.path.join(folder, "labels.tif"), np.ones((20, 20), np.uint8), nodata=255)
    with pytest.raises(Low2HighError, match=r"^The PREDICTION raster 'flipped.tif' is not north-up .*Warp"):
        evaluate(EvaluateRequest(flipped, labelled))
