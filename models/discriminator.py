"""Discriminator judging whether a label map is a real high-resolution annotation (Sec. 4.4).

Supplementary Table S6: a StyleGAN2-style residual discriminator over single-channel class-index
maps. Each block halves the resolution until the map is 2x2; the last block keeps it. The score
is unbounded (no sigmoid) because training uses the hinge loss.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class DiscriminatorBlock(nn.Module):
    """Residual block: ``(net(x) [-> strided conv] + conv_res(x)) / sqrt(2)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        downsample: Halve the resolution with a 3x3 stride-2 conv (and a stride-2 shortcut).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv_res = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.downsample = (
            nn.Conv2d(out_channels, out_channels, 3, stride=2, padding=1) if downsample else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv_res(x)  # (B, C_out, H', W')
        x = self.net(x)  # (B, C_out, H, W)
        if self.downsample is not None:
            x = self.downsample(x)  # (B, C_out, H/2, W/2)
        # Dividing by sqrt(2) keeps the variance of the sum equal to that of each branch.
        return (x + residual) / math.sqrt(2)


class Discriminator(nn.Module):
    """Real/fake critic for ``(B, in_channels, S, S)`` label maps.

    Args:
        image_size: Side S of the square input; a power of two >= 4. ``log2(S)`` blocks are
            used so the final map is 2x2 (8 blocks at 256, as in Table S6).
        in_channels: 1 for class-index maps (real exemplars or soft-argmax predictions).
        base_channels: Channels of the first block; doubled per block up to ``max_channels``.
        max_channels: Channel cap (Table S6: 32, 64, 128, 128, ...).
    """

    def __init__(
        self,
        image_size: int = 256,
        in_channels: int = 1,
        base_channels: int = 32,
        max_channels: int = 128,
    ) -> None:
        super().__init__()
        if image_size < 4 or image_size & (image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 4, got {image_size}")
        self.image_size = image_size
        self.in_channels = in_channels
        num_blocks = int(math.log2(image_size))
        widths = [min(base_channels * 2**i, max_channels) for i in range(num_blocks)]
        inputs = [in_channels] + widths[:-1]
        self.blocks = nn.ModuleList(
            DiscriminatorBlock(c_in, c_out, downsample=i < num_blocks - 1)
            for i, (c_in, c_out) in enumerate(zip(inputs, widths))
        )
        final = widths[-1]
        self.final_conv = nn.Conv2d(final, final, 3, padding=1)
        self.flatten = nn.Flatten()
        self.to_logit = nn.Linear(final * 2 * 2, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score label maps.

        Args:
            x: ``(B, in_channels, S, S)`` maps (blurred, Sec. 4.6).

        Returns:
            ``(B, 1)`` unbounded realness scores.
        """
        expected = (self.in_channels, self.image_size, self.image_size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"Discriminator expects input (batch, {expected[0]}, {expected[1]}, "
                f"{expected[2]}), got {tuple(x.shape)}"
            )
        for block in self.blocks:
            x = block(x)  # (B, C_i, S / 2^(i+1), ...) down to (B, C_max, 2, 2)
        x = self.final_conv(x)  # (B, C_max, 2, 2)
        return self.to_logit(self.flatten(x))  # (B, 1)
