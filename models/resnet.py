"""ResNet-18 feature encoder (paper Sec. 4.2, supplementary Table S4).

The segmentation network and the MAE patch embedding share this one encoder class, so the
weights learned by self-supervised pretraining (Sec. 4.5) load into the U-Net by name.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution without bias (a BatchNorm follows it, so a bias would be redundant)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv/BN layers with an identity (or 1x1 projection) shortcut.

    Args:
        in_channels: Channels of the block input.
        out_channels: Channels of the block output.
        stride: 2 halves the resolution (first block of stages 2-4); the shortcut then becomes
            a strided 1x1 conv + BN so that it matches the main path's shape.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, C_out, H', W')
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C_out, H', W')
        out = self.bn2(self.conv2(out))  # (B, C_out, H', W')
        return self.relu(out + shortcut)


class ResNet18Encoder(nn.Module):
    """ResNet-18 without its classification head, returning the five U-Net skip features.

    Table S4 at ``width=64``: 7x7/2 stem conv, BN, ReLU, 3x3/2 max-pool, then four stages of
    two :class:`BasicBlock` each with ``width * (1, 2, 4, 8)`` channels (stride 2 in stages
    2-4). ``in_channels`` is 4 by default because NAIP imagery is RGB + NIR.

    Args:
        in_channels: Image bands.
        width: Channels of the stem and first stage (64 in the paper); smaller widths give
            cheap models for tests and demos.
    """

    def __init__(self, in_channels: int = 4, width: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be positive, got {in_channels}, {width}")
        self.in_channels = in_channels
        self.width = width
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False),
                bn=nn.BatchNorm2d(width),
                relu=nn.ReLU(inplace=True),
            )
        )
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(width, width, stride=1)
        self.layer2 = self._stage(width, 2 * width, stride=2)
        self.layer3 = self._stage(2 * width, 4 * width, stride=2)
        self.layer4 = self._stage(4 * width, 8 * width, stride=2)
        self._init_weights()

    @staticmethod
    def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            BasicBlock(in_channels, out_channels, stride), BasicBlock(out_channels, out_channels)
        )

    def _init_weights(self) -> None:
        # He initialisation suits ReLU networks trained from scratch (no pretrained weights).
        if self.stem.conv.weight.is_meta:
            # Built for its shapes only (checkpoint validation): random init of meta tensors computes
            # nothing, yet its first call imports torch._dynamo, 1.2 s of every segment run.
            return
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @property
    def out_channels(self) -> list[int]:
        """Channels of the five returned feature maps, shallowest first."""
        w = self.width
        return [w, w, 2 * w, 4 * w, 8 * w]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encode an image into five feature maps.

        Args:
            x: Images ``(B, in_channels, H, W)``.

        Returns:
            ``[stem (B, w, H/2, W/2), stage1 (B, w, H/4, W/4), stage2 (B, 2w, H/8, W/8),
            stage3 (B, 4w, H/16, W/16), stage4 (B, 8w, H/32, W/32)]``; the stem map is taken
            after conv/BN/ReLU and before the max-pool.
        """
        stem = self.stem(x)  # (B, w, H/2, W/2)
        stage1 = self.layer1(self.pool(stem))  # (B, w, H/4, W/4)
        stage2 = self.layer2(stage1)  # (B, 2w, H/8, W/8)
        stage3 = self.layer3(stage2)  # (B, 4w, H/16, W/16)
        stage4 = self.layer4(stage3)  # (B, 8w, H/32, W/32)
        return [stem, stage1, stage2, stage3, stage4]
