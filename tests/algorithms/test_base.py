"""What every algorithm shares, inside real QGIS: numbers given as text, files that are not rasters."""
import os

import pytest
from helpers import make_raster, scene


def test_a_number_parameter_given_as_text_is_refused_not_replaced(low2high_provider, folder, tiny_models):
    import processing
    from qgis.core import QgsProcessingException

    image = make_raster(os.path.join(folder, "image.tif"), scene(64, 64)[0])
    with pytest.raises(QgsProcessingException, match=r"TILE_SIZE must be a whole number \(got 'abc'\); give one, or "
                                                     "leave TILE_SIZE empty for the default"):
        processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[1], "TILE_SIZE": "abc",
                                            "OUTPUT": os.path.join(folder, "map.tif")})
    assert sorted(os.listdir(folder)) == ["image.tif"]


def test_a_text_file_named_tif_is_called_what_it_is_not_missing(low2high_provider, folder):
    import processing
    from qgis.core import QgsProcessingException

    fake = os.path.join(folder, "labels.tif")
    with open(fake, "w") as handle:
        handle.write("code,class\n11,water\n")
    with pytest.raises(QgsProcessingException) as error:
        processing.run("low2high:aggregatelabels", {"INPUT": fake, "FACTOR": 4,
                                                    "OUTPUT": os.path.join(folder, "blocks.tif")})
    message = str(error.value)
    assert f"The INPUT file '{fake}' is not a raster GDAL can read" in message and "choose a raster file" in message
    assert "not found" not in message
    assert sorted(os.listdir(folder)) == ["labels.tif"]


def test_a_decimal_parameter_given_as_text_is_refused_not_replaced(low2high_provider, folder, tiny_models):
    import processing
    from qgis.core import QgsProcessingException

    image = make_raster(os.path.join(folder, "image.tif"), scene(64, 64)[0])
    with pytest.raises(QgsProcessingException, match=r"MIN_MAPPING_UNIT must be a number \(got 'big'\)"):
        processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[1], "MIN_MAPPING_UNIT": "big",
                                            "OUTPUT": os.path.join(folder, "map.tif")})
    assert sorted(os.listdir(folder)) == ["image.tif"]
