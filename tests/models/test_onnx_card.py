"""An ONNX file whose graph disagrees with its Low2High metadata is refused when loaded, naming both."""
import json
import os

import numpy as np
import pytest
import torch
from helpers import make_raster, scene

from low2high.core.errors import Low2HighError
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.models.card import CheckpointError, ModelCard
from low2high.models.onnx_card import read_onnx_card
from low2high.models.onnx_export import export_onnx
from low2high.models.unet import UNet, UNetConfig

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

BANDS = ["red", "green", "blue", "nir"]
CLASSES = ["water", "forest", "field", "impervious"]


def _export(path, bands: int, classes: int) -> str:
    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=bands, num_classes=classes, width=8))
    card = ModelCard(band_names=BANDS[:bands], class_names=CLASSES[:classes], mean=[0.4] * bands, std=[0.2] * bands,
                     gsd=1.0, tile_size=64, tile_overlap=0)
    export_onnx(model, card, path)
    return str(path)


def _describe_as_four_bands_four_classes(path: str) -> None:
    """Rewrite the metadata (as an editor or another tool might) to a 4-band, 4-class model."""
    proto = onnx.load(path)
    for entry in proto.metadata_props:
        if entry.key == "low2high":
            description = json.loads(entry.value)
            description["config"].update(in_channels=4, num_classes=4)
            description["card"].update(band_names=BANDS, class_names=CLASSES, mean=[0.4] * 4, std=[0.2] * 4)
            entry.value = json.dumps(description)
    onnx.save(proto, path)


@pytest.mark.parametrize("bands, classes, words", [
    (3, 4, "its network takes 3 input bands but its description says 4 (red, green, blue, nir)"),
    (4, 3, "its network gives 3 classes but its description says 4 (water, forest, field, impervious)"),
])
def test_a_graph_that_disagrees_with_its_card_is_refused(tmp_path, bands, classes, words):
    path = _export(tmp_path / "model.onnx", bands, classes)
    _describe_as_four_bands_four_classes(path)
    with pytest.raises(CheckpointError) as error:
        read_onnx_card(path)
    assert words in str(error.value) and "export it again from its checkpoint" in str(error.value)
    image = make_raster(str(tmp_path / "image.tif"), scene(64, 64)[0])
    with pytest.raises(Low2HighError, match="Cannot use the model 'model.onnx': .*" + words.replace("(", r"\(")
                       .replace(")", r"\)")):
        segment(SegmentRequest(image, str(tmp_path / "map.tif"), model_path=path))
    assert sorted(os.listdir(tmp_path)) == ["image.tif", "model.onnx"]


def test_a_consistent_export_still_loads(tmp_path):
    config, card, _ = read_onnx_card(_export(tmp_path / "model.onnx", 4, 4))
    assert (config.in_channels, len(card.class_names)) == (4, 4) and np.isclose(card.gsd, 1.0)
