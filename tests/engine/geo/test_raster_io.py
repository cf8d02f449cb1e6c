"""A truncated or damaged GeoTIFF ends in a sentence naming the file, in every tool, with nothing written."""
import os

import pytest
from helpers import make_raster, scene

from low2high.core.errors import Low2HighError
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.labels.remap import RemapRequest, remap

DAMAGED = r"The raster '.*{name}' is damaged or incomplete: its pixels near column \d+, row \d+ cannot be read " \
          r"\(.*IReadBlock failed.*\)\. Copy or export the file again"


def _truncated(path: str) -> str:
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    return path


def test_a_truncated_image_in_segment(folder, tiny_models):
    image = _truncated(make_raster(os.path.join(folder, "image.tif"), scene(256, 256)[0], tiled=True))
    with pytest.raises(Low2HighError, match=DAMAGED.format(name="image.tif")):
        segment(SegmentRequest(image, os.path.join(folder, "map.tif"), model_path=tiny_models[1]))
    assert sorted(os.listdir(folder)) == ["image.tif"]


def test_a_truncated_label_raster_in_remap(folder):
    labels = _truncated(make_raster(os.path.join(folder, "nlcd.tif"), scene(512, 512)[1] + 11, tiled=True))
    with pytest.raises(Low2HighError, match=DAMAGED.format(name="nlcd.tif")):
        remap(RemapRequest(labels, os.path.join(folder, "merged.tif"), taxonomy="nlcd"))
    assert sorted(os.listdir(folder)) == ["nlcd.tif"]
