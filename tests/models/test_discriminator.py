"""Discriminator (Table S6): parameter counts, output shapes, input checks."""

import pytest
import torch
from torch import nn

from low2high.models.discriminator import Discriminator, DiscriminatorBlock


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_table_s6():
    d = Discriminator(image_size=256)
    assert len(d.blocks) == 8
    first, second, third, last = d.blocks[0], d.blocks[1], d.blocks[2], d.blocks[-1]
    assert [n_params(first.conv_res), n_params(first.net), n_params(first.downsample)] == [
        64, 9_568, 9_248]
    assert [n_params(second.conv_res), n_params(second.net), n_params(second.downsample)] == [
        2_112, 55_424, 36_928]
    assert [n_params(third.conv_res), n_params(third.net)] == [8_320, 221_440]
    assert [n_params(last.conv_res), n_params(last.net)] == [16_512, 295_168]
    assert last.downsample is None
    assert n_params(d.final_conv) == 147_584 and n_params(d.to_logit) == 513
    assert n_params(d) == 2_787_521


@pytest.mark.parametrize("size", [64, 128, 256])
def test_output_is_one_score_per_sample(size):
    torch.manual_seed(0)
    d = Discriminator(image_size=size, base_channels=8, max_channels=16)
    assert len(d.blocks) == {64: 6, 128: 7, 256: 8}[size]
    scores = d(torch.rand(2, 1, size, size) * 3)
    assert scores.shape == (2, 1) and torch.isfinite(scores).all()


def test_block_shapes():
    x = torch.randn(1, 4, 16, 16)
    assert DiscriminatorBlock(4, 8, downsample=True)(x).shape == (1, 8, 8, 8)
    assert DiscriminatorBlock(4, 8, downsample=False)(x).shape == (1, 8, 16, 16)


def test_rejects_wrong_sizes():
    with pytest.raises(ValueError, match="power of two"):
        Discriminator(image_size=100)
    with pytest.raises(ValueError, match="expects input"):
        Discriminator(image_size=64, base_channels=4, max_channels=8)(torch.zeros(1, 1, 32, 32))


def test_gradients_reach_the_input():
    d = Discriminator(image_size=32, base_channels=4, max_channels=8)
    x = torch.rand(2, 1, 32, 32, requires_grad=True)
    d(x).sum().backward()
    assert x.grad.abs().sum() > 0
