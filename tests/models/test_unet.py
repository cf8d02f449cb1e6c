"""ResNet-18 encoder and U-Net: shapes, Table S4/S5 parameter counts, input checks, FLOPs."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from low2high.models.flops import count_flops
from low2high.models.resnet import BasicBlock, ResNet18Encoder
from low2high.models.unet import UNet, UNetConfig


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_encoder_returns_five_maps_with_expected_shapes():
    torch.manual_seed(0)
    encoder = ResNet18Encoder(in_channels=4, width=8)
    features = encoder(torch.randn(2, 4, 64, 96))
    shapes = [tuple(f.shape) for f in features]
    assert shapes == [(2, 8, 32, 48), (2, 8, 16, 24), (2, 16, 8, 12), (2, 32, 4, 6), (2, 64, 2, 3)]
    assert encoder.out_channels == [8, 8, 16, 32, 64]


def test_encoder_parameter_counts_match_table_s4():
    encoder = ResNet18Encoder(in_channels=3, width=64)
    assert n_params(encoder.stem.conv) == 9_408
    assert n_params(encoder.stem.bn) == 128
    assert n_params(encoder.layer1[0].conv1) == 36_864
    assert n_params(encoder.layer2[0].conv1) == 73_728
    assert n_params(encoder.layer2[0].downsample) == 8_448
    assert n_params(encoder.layer3[0].downsample) == 33_280
    assert n_params(encoder.layer4[0].downsample) == 132_096
    assert n_params(encoder.layer4[1].conv2) == 2_359_296
    assert encoder.layer1[0].downsample is None
    # torchvision's ResNet-18 without its fc layer has 11,176,512 parameters.
    assert n_params(encoder) == 11_176_512
    assert n_params(ResNet18Encoder(in_channels=4, width=64)) == 11_176_512 + 64 * 49


def test_decoder_parameter_counts_match_table_s5():
    model = UNet(UNetConfig(in_channels=4, num_classes=12, width=64))
    blocks = model.decoder.blocks
    convs = [m for block in blocks for m in block.convs if isinstance(m, nn.Conv2d)]
    per_conv = [n_params(conv) for conv in convs]
    assert per_conv == [1_769_728, 590_080, 442_496, 147_584, 110_656, 36_928, 73_792, 36_928]
    assert n_params(model.decoder.head) == 6_924
    config = UNetConfig(num_classes=4)
    assert n_params(UNet(config).decoder.head) == 64 * 4 * 9 + 4


def test_unet_logits_have_input_resolution():
    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=3, num_classes=5, width=8))
    assert isinstance(model.encoder, ResNet18Encoder)
    logits = model(torch.randn(2, 3, 64, 32))
    assert logits.shape == (2, 5, 64, 32)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("size", [(48, 64), (64, 40)])
def test_unet_rejects_sizes_not_multiple_of_32(size):
    model = UNet(UNetConfig(width=8))
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.randn(1, 4, *size))


def test_unet_rejects_wrong_band_count():
    with pytest.raises(ValueError, match="4"):
        UNet(UNetConfig(width=8))(torch.randn(1, 3, 32, 32))


def test_config_rejects_non_positive_values():
    with pytest.raises(ValueError):
        UNetConfig(width=0)
    with pytest.raises(ValueError):
        UNetConfig(num_classes=2.5)


def test_basic_block_projection_shortcut_only_when_shape_changes():
    assert BasicBlock(8, 8).downsample is None
    block = BasicBlock(8, 16, stride=2)
    assert block(torch.randn(1, 8, 8, 8)).shape == (1, 16, 4, 4)


def test_count_flops_single_layers():
    conv = nn.Conv2d(3, 8, 3, padding=1, stride=2)
    assert count_flops(conv, 16, 16) == 2 * 8 * 8 * 8 * 3 * 9
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    assert count_flops(linear, 4, 4, in_channels=3) == 2 * 48 * 10


def test_count_flops_unet_scales_with_area_and_leaves_model_untouched():
    model = UNet(UNetConfig(width=8))
    small, large = count_flops(model, 64, 64), count_flops(model, 128, 128)
    assert small > 0 and large == 4 * small
    assert next(model.parameters()).device.type == "cpu"


def test_importing_models_does_not_import_onnx():
    code = (
        "import sys, low2high.models, low2high.models.onnx_export, low2high.models.checkpoint;"
        "import low2high.models.mae, low2high.models.discriminator, low2high.models.ops;"
        "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, 'onnx imported';"
        "assert not any(m.startswith(('low2high.engine', 'low2high.train', 'low2high.low2high_plugin'))"
        " for m in sys.modules);"
        "assert low2high.models.UNet is low2high.models.unet.UNet"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
