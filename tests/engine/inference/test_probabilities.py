"""The probabilities GeoTIFF is one grey band per class: no band may read as alpha (transparency)."""
import os

from helpers import make_raster, scene
from osgeo import gdal

from low2high.engine.inference.segment import SegmentRequest, segment


def test_no_probability_band_is_tagged_alpha(folder, tiny_models):
    image = make_raster(os.path.join(folder, "image.tif"), scene(256, 256)[0])
    probabilities = os.path.join(folder, "p.tif")
    segment(SegmentRequest(image, os.path.join(folder, "map.tif"), model_path=tiny_models[1],
                           probabilities_path=probabilities))
    dataset = gdal.Open(probabilities)
    interpretations = [dataset.GetRasterBand(index + 1).GetColorInterpretation() for index in range(4)]
    assert interpretations == [gdal.GCI_GrayIndex] + [gdal.GCI_Undefined] * 3
    assert "Alpha" not in gdal.Info(dataset)
