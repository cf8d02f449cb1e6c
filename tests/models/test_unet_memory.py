"""The U-Net's inference memory: each skip map released once joined, the numbers unchanged."""
import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from low2high.models.unet import UNet, UNetConfig, upsample2x


class LiveTensorBytes(TorchDispatchMode):
    """The most bytes of tensor storage alive at once while the mode is on (outputs of aten ops)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(output)[0]:
            if isinstance(tensor, torch.Tensor):
                key = tensor.untyped_storage().data_ptr()
                if key not in self.live:
                    self.live[key] = tensor.untyped_storage().nbytes()
                    weakref.finalize(tensor, self.live.pop, key, None)
        self.peak = max(self.peak, sum(self.live.values()))
        return output


def concatenating_decode(decoder, features):
    """The decoder as Table S5 writes it: upsample, concatenate, convolve, every skip kept to the end."""
    stem, stage1, stage2, stage3, stage4 = features
    x = stage4
    for block, skip in zip(decoder.blocks, (stage3, stage2, stage1, stem)):
        x = block.convs(torch.cat([upsample2x(x), skip], dim=1))
    return x


@pytest.fixture
def unet():
    torch.manual_seed(0)
    return UNet(UNetConfig(in_channels=4, width=8, num_classes=4)).eval()


@pytest.mark.parametrize("channels_last", [False, True])
def test_decode_without_gradients_gives_the_concatenating_decoders_numbers(unet, channels_last):
    images = torch.randn(2, 4, 128, 96)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        features = unet.encoder(images)
        expected = concatenating_decode(unet.decoder, list(features))
        assert torch.equal(unet.decoder.decode(list(features)), expected)


def test_decode_with_gradients_trains(unet):
    unet.train()
    unet(torch.randn(2, 4, 64, 64)).sum().backward()
    assert all(p.grad is not None for p in unet.parameters() if p.requires_grad)


def test_an_inference_pass_never_holds_the_skip_beside_the_joined_map(unet):
    """At the last block the peak is the joined map and the first convolution's output (3 half-resolution maps
    of ``w`` channels), not the upsampled map, the skip, their concatenation and both convolutions (6)."""
    images = torch.randn(1, 4, 256, 256)
    half_resolution_map = 8 * 128 * 128 * 4  # bytes: w channels at H/2 x W/2, float32
    old, new = LiveTensorBytes(), LiveTensorBytes()
    with torch.no_grad():
        with old:
            concatenating_decode(unet.decoder, unet.encoder(images))
        with new:
            unet.decoder.decode(unet.encoder(images))
    assert old.peak >= 5 * half_resolution_map, "the tracker sees the concatenating decoder's maps"
    assert new.peak <= 3.5 * half_resolution_map, new.peak / half_resolution_map


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_an_onnx_export_keeps_one_concat_per_block(unet, tmp_path):
    """Graph capture takes the concatenating path: slice assignments would export as ScatterND chains."""
    onnx = pytest.importorskip("onnx")
    path = tmp_path / "unet.onnx"
    with torch.no_grad():
        torch.onnx.export(unet, (torch.randn(1, 4, 64, 64),), str(path), opset_version=17, dynamo=False)
    operators = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert operators.count("Concat") == 4
    assert "ScatterND" not in operators
