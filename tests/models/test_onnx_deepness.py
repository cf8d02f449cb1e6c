"""Our ONNX exports read back through Deepness's documented rules (tests/deepness_rules.py): what its
panel shows after "Load default parameters", and the map it then draws."""
import json
import os

import numpy as np
import pytest
import torch
from deepness_rules import PANEL_THRESHOLD, DeepnessLoadError, deepness_map, load_default_parameters
from helpers import export_model, make_model, make_raster, read, scene

from low2high.models.checkpoint import CheckpointError, ModelCard
from low2high.models.onnx_export import deepness_overlap_percent, export_onnx
from low2high.models.unet import UNet, UNetConfig

ort = pytest.importorskip("onnxruntime")


def network(bands: int = 4) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(in_channels=bands, num_classes=4, width=8))


def card(**changes) -> ModelCard:
    values = dict(mean=[0.45] * 4, std=[0.2] * 4, gsd=0.6, tile_size=512, tile_overlap=64)
    values.update(changes)
    return ModelCard(**values)


def metadata(path) -> dict:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()}


def test_deepness_panel_gets_what_the_card_says(tmp_path):
    path = tmp_path / "m.onnx"
    export_onnx(network(), card(), path)
    settings = load_default_parameters(str(path))
    assert settings.model_type == "Segmentor"
    assert settings.class_names == ["water", "forest", "field", "impervious"]
    assert settings.resolution_cm == pytest.approx(60.0) and settings.tile_size == 512
    assert settings.overlap_px >= 64  # 13 %: 66 px (rounding to 12 % gave 61)
    assert settings.threshold == 0.0  # not the panel's 0.5, which turned unsure pixels into class 0 "water"
    assert settings.small_segment == 0  # not the panel's 9-px smoothing of the map
    np.testing.assert_allclose(settings.mean, [0.45] * 4)
    np.testing.assert_allclose(settings.std, [0.2] * 4)


@pytest.mark.parametrize("tile", [64, 256, 512, 1024])
def test_the_overlap_percent_gives_deepness_at_least_the_cards_pixels(tile):
    for overlap in range(0, tile // 2 + 1):
        percent = deepness_overlap_percent(card(tile_size=tile, tile_overlap=overlap))
        deepness_pixels = int(tile * percent / 100)  # floor, as Deepness converts it
        assert overlap <= deepness_pixels < overlap + tile / 100 + 1


def test_a_card_threshold_is_what_deepness_applies(tmp_path):
    export_onnx(network(), card(probability_threshold=0.3), tmp_path / "t.onnx")
    assert load_default_parameters(str(tmp_path / "t.onnx")).threshold == pytest.approx(0.3)
    with pytest.raises(CheckpointError, match="logits"):
        export_onnx(network(), card(probability_threshold=0.3), tmp_path / "l.onnx", output="logits", deepness=True)


def test_deepness_draws_segments_map_of_our_export(folder, tiny_models):
    """Our export (256-px tiles) in Deepness after "Load default parameters" and in segment: the same map
    but where tiles are cut differently; with the panel's default threshold it was not."""
    from low2high.engine.inference.segment import SegmentRequest, segment

    pixels, _ = scene(480, 640, seed=2)
    image = make_raster(os.path.join(folder, "image.tif"), pixels)
    ours = read(segment(SegmentRequest(image, os.path.join(folder, "map.tif"), tiny_models[1],
                                       precision="fp32")).output_path)
    settings = load_default_parameters(tiny_models[1])
    agreement = (deepness_map(tiny_models[1], pixels, settings) == ours).mean()
    from dataclasses import replace

    with_panel_default = (deepness_map(tiny_models[1], pixels, replace(settings, threshold=PANEL_THRESHOLD)) == ours)
    assert agreement > 0.97  # tile borders: Deepness cuts at other places, and pads with black
    assert agreement > with_panel_default.mean() + 0.1


def test_a_dynamic_size_export_is_refused_for_deepness_and_carries_no_deepness_keys(tmp_path):
    with pytest.raises(CheckpointError, match="Deepness cannot load a dynamic-size export"):
        export_onnx(network(), card(), tmp_path / "d.onnx", dynamic_size=True, deepness=True)
    assert not (tmp_path / "d.onnx").exists()
    export_onnx(network(), card(), tmp_path / "d.onnx", dynamic_size=True)  # for Low2High: allowed
    assert "model_type" not in metadata(tmp_path / "d.onnx") and "low2high" in metadata(tmp_path / "d.onnx")
    with pytest.raises(DeepnessLoadError):
        load_default_parameters(str(tmp_path / "d.onnx"))


def test_per_tile_standardisation_is_refused_for_deepness(tmp_path):
    per_tile = card(standardisation="tile")
    with pytest.raises(CheckpointError) as caught:
        export_onnx(network(), per_tile, tmp_path / "t.onnx", deepness=True)
    assert "standardises each tile by the tile's own mean and std" in str(caught.value)
    export_onnx(network(), per_tile, tmp_path / "t.onnx")
    assert "standardization_mean" not in metadata(tmp_path / "t.onnx")


def test_the_export_command_says_why_deepness_cannot_take_a_tile_standardised_model(tmp_path, capsys):
    from low2high.models.checkpoint import save_checkpoint
    from low2high.train.cli import main

    checkpoint = str(tmp_path / "m.pt")
    save_checkpoint(checkpoint, network(), card(tile_size=64, tile_overlap=16, standardisation="tile"))
    assert main(["export", "--checkpoint", checkpoint, "--verify", "false"]) == 2
    assert "Deepness cannot run this model" in capsys.readouterr().err
    assert main(["export", "--checkpoint", checkpoint, "--verify", "false", "--deepness", "false"]) == 0


def test_the_export_help_names_the_file_deepness_cannot_load(capsys):
    from low2high.train.cli import main

    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Deepness cannot load such a file" in text and "--deepness" in text


def test_our_helpers_export_loads_in_deepness(tmp_path):
    checkpoint = make_model(str(tmp_path / "m.pt"), bands=3)
    settings = load_default_parameters(export_model(checkpoint, str(tmp_path / "m.onnx")))
    assert settings.tile_size == 256 and settings.overlap_px >= 32
