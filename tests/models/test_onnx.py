"""ONNX export: numerical equivalence, Deepness + Low2High metadata, and read errors."""

import json
import os

import numpy as np
import pytest
import torch

from low2high.models.checkpoint import CheckpointError, ModelCard
from low2high.models.onnx_card import read_onnx_card
from low2high.models.onnx_export import OnnxVerificationError, export_onnx, verify_onnx_export
from low2high.models.unet import UNet, UNetConfig

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def make_model(in_channels: int = 4, width: int = 8) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(in_channels=in_channels, num_classes=4, width=width))


def make_card(bands=("red", "green", "blue", "nir"), **changes) -> ModelCard:
    values = dict(band_names=list(bands), mean=[0.4] * len(bands), std=[0.2] * len(bands),
                  gsd=0.6, tile_size=64, tile_overlap=16)
    values.update(changes)
    return ModelCard(**values)


@pytest.fixture(scope="module")
def logits_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "logits.onnx"
    model = make_model()
    export_onnx(model, make_card(), path, output="logits")
    return path, model


def test_logits_export_matches_torch(logits_export):
    path, model = logits_export
    assert verify_onnx_export(model, path, batch=2) < 1e-3


def test_export_leaves_the_model_in_training_mode(tmp_path):
    model = make_model().train()
    export_onnx(model, make_card(), tmp_path / "m.onnx")
    assert model.training


def test_deepness_metadata(logits_export):
    path, _ = logits_export
    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    values = {k: json.loads(v) for k, v in meta.get_modelmeta().custom_metadata_map.items()}
    assert values["model_type"] == "Segmentor"
    assert values["class_names"] == {"0": "water", "1": "forest", "2": "field", "3": "impervious"}
    assert values["resolution"] == pytest.approx(60.0)  # 0.6 m -> 60 cm per pixel
    assert values["tile_size"] == 64
    assert values["tiles_overlap"] == 25  # 16 of 64 pixels
    assert values["standardization_mean"] == [0.4] * 4
    assert values["standardization_std"] == [0.2] * 4
    description = values["low2high"]
    assert description["format"] == "low2high.onnx" and description["format_version"] == 1
    assert description["architecture"] == "unet-resnet18"
    assert description["output"] == "logits" and description["input_size"] == [64, 64]


def test_graph_has_fixed_tile_and_dynamic_batch(logits_export):
    path, _ = logits_export
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (model_input,), (model_output,) = session.get_inputs(), session.get_outputs()
    assert model_input.name == "input" and model_output.name == "output"
    assert isinstance(model_input.shape[0], str) and model_input.shape[1:] == [4, 64, 64]


def test_read_onnx_card_round_trip(logits_export):
    path, model = logits_export
    config, card, description = read_onnx_card(path)
    assert config == model.config
    assert card == make_card()
    assert description["output"] == "logits"


def test_probabilities_export_three_bands_other_width(tmp_path):
    model = make_model(in_channels=3, width=16)
    card = make_card(bands=("red", "green", "blue"))
    path = tmp_path / "rgb.onnx"
    export_onnx(model, card, path)
    assert verify_onnx_export(model, path, batch=1) < 1e-4
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    (probabilities,) = session.run(["output"], {"input": x})
    assert probabilities.shape == (2, 4, 64, 64)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert read_onnx_card(path)[2]["output"] == "probabilities"


def test_dynamic_size_export(tmp_path):
    model = make_model()
    path = tmp_path / "dyn.onnx"
    export_onnx(model, make_card(), path, output="logits", dynamic_size=True)
    assert read_onnx_card(path)[2]["input_size"] is None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.randn(1, 4, 96, 32)
    (logits,) = session.run(["output"], {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(logits, model.eval()(x).numpy(), atol=1e-4)


def test_verify_raises_when_the_file_does_not_match(logits_export):
    path, _ = logits_export
    with pytest.raises(OnnxVerificationError, match="differs"):
        verify_onnx_export(make_model(width=8).apply(_perturb), path)


def _perturb(module):
    if isinstance(module, torch.nn.Conv2d) and module.bias is not None:
        torch.nn.init.constant_(module.bias, 1.0)


def test_export_rejects_mismatched_card_and_bad_output(tmp_path):
    with pytest.raises(CheckpointError, match="bands"):
        export_onnx(make_model(in_channels=3), make_card(), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="output"):
        export_onnx(make_model(), make_card(), tmp_path / "x.onnx", output="argmax")
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_foreign_onnx_model_is_not_a_low2high_model(tmp_path):
    path = tmp_path / "foreign.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 2, 1), (torch.zeros(1, 3, 8, 8),), str(path),
                      dynamo=False)
    with pytest.raises(CheckpointError, match="not a Low2High model.*metadata"):
        read_onnx_card(path)


def test_missing_truncated_and_garbage_onnx_files(tmp_path, logits_export):
    with pytest.raises(CheckpointError, match="not found"):
        read_onnx_card(tmp_path / "missing.onnx")
    data = logits_export[0].read_bytes()
    truncated = tmp_path / "half.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes())
    for path in (truncated, garbage):
        with pytest.raises(CheckpointError, match="cannot be read as an ONNX model"):
            read_onnx_card(path)


def test_newer_onnx_description_is_refused(tmp_path, logits_export):
    proto = onnx.load(str(logits_export[0]))
    for entry in proto.metadata_props:
        if entry.key == "low2high":
            description = json.loads(entry.value)
            description["format_version"] = 99
            entry.value = json.dumps(description)
    path = tmp_path / "future.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(CheckpointError, match="newer Low2High"):
        read_onnx_card(path)
