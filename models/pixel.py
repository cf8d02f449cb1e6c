"""A context-free per-pixel classifier: the baseline that cannot learn "suburb -> impervious".

A multilayer perceptron applied to every pixel's band values independently, written as 1x1
convolutions so that it takes and returns the same ``(B, C, H, W)`` tensors as the U-Net and runs
unchanged in the tiled segment engine and in ONNX. With no spatial context it can only learn what
a pixel's colour says, which makes it the right yardstick for how much a CNN's context helps or
hurts when trained on coarse labels.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import PixelMLPConfig


class PixelMLP(nn.Module):
    """Per-pixel MLP: ``layers`` x (1x1 conv + ReLU), then a 1x1 conv to the class logits.

    Args:
        config: Architecture arguments; kept as ``self.config`` so checkpoints can rebuild it.
    """

    def __init__(self, config: PixelMLPConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.in_channels] + [config.hidden] * config.layers
        hidden: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            hidden += [nn.Conv2d(c_in, c_out, 1), nn.ReLU(inplace=True)]
        self.hidden = nn.Sequential(*hidden)
        self.head = nn.Conv2d(widths[-1], config.num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classify every pixel of ``(B, in_channels, H, W)`` (any H, W) into logits ``(B, K, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"PixelMLP expects input of shape (batch, {self.config.in_channels}, height, width), "
                f"got {tuple(x.shape)}"
            )
        features = self.hidden(x)  # (B, hidden, H, W)
        return self.head(features)  # (B, num_classes, H, W)
