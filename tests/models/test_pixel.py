"""The per-pixel MLP baseline: context-free, and a first-class architecture of model files."""
import pytest
import torch

from low2high.models.architectures import architecture_of, build_network
from low2high.models.card import ModelCard
from low2high.models.checkpoint import load_checkpoint, read_checkpoint_card, save_checkpoint
from low2high.models.config import PixelMLPConfig
from low2high.models.onnx_card import read_onnx_card
from low2high.models.onnx_export import export_onnx, verify_onnx_export
from low2high.models.pixel import PixelMLP


def make_pixel_model() -> PixelMLP:
    torch.manual_seed(0)
    return PixelMLP(PixelMLPConfig(in_channels=4, num_classes=4, hidden=16, layers=2)).eval()


def test_each_pixel_is_classified_from_its_own_bands_only():
    model = make_pixel_model()
    x = torch.randn(2, 4, 20, 36)  # any size: no 32-multiple constraint
    with torch.no_grad():
        logits = model(x)
        assert logits.shape == (2, 4, 20, 36)
        changed = x.clone()
        changed[:, :, 5, 7] += 3.0
        difference = (model(changed) - logits).abs().sum(dim=1)
    assert difference[:, 5, 7].min() > 0 and difference.sum() == difference[:, 5, 7].sum()  # no context


def test_config_is_validated():
    with pytest.raises(ValueError, match="hidden"):
        PixelMLPConfig(hidden=0)
    assert len(list(PixelMLP(PixelMLPConfig(layers=0)).parameters())) == 2  # a linear classifier


def test_checkpoint_round_trip_names_the_architecture(tmp_path):
    model = make_pixel_model()
    path = tmp_path / "pixel.pt"
    save_checkpoint(path, model, ModelCard(mean=[0.4] * 4, std=[0.2] * 4), extra={"epoch": 1})
    assert torch.load(path, weights_only=True)["architecture"] == "pixel-mlp"
    loaded = load_checkpoint(path)
    assert loaded.architecture == "pixel-mlp" and loaded.config == model.config
    rebuilt = loaded.build_model()
    assert isinstance(rebuilt, PixelMLP)
    x = torch.randn(1, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))
    config, _, _ = read_checkpoint_card(path)
    assert config == model.config


def test_onnx_export_of_the_pixel_model(tmp_path):
    model = make_pixel_model()
    path = tmp_path / "pixel.onnx"
    export_onnx(model, ModelCard(mean=[0.4] * 4, std=[0.2] * 4, tile_size=64, tile_overlap=8), path)
    assert verify_onnx_export(model, path) < 1e-4
    config, _, description = read_onnx_card(path)
    assert description["architecture"] == "pixel-mlp" and config == model.config


def test_architecture_registry():
    assert architecture_of(make_pixel_model()) == "pixel-mlp"
    assert isinstance(build_network("pixel-mlp", PixelMLPConfig()), PixelMLP)
    with pytest.raises(TypeError, match="UNet or PixelMLP"):
        architecture_of(torch.nn.Conv2d(1, 1, 1))
