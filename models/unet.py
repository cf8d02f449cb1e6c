"""U-Net with a ResNet-18 encoder: the segmentation network / generator (paper Sec. 4.2).

The decoder follows supplementary Table S5: four upsampling blocks, each upsampling the previous
map 2x, concatenating the encoder skip (stage3, stage2, stage1, stem) and applying two 3x3 convs
with ReLU; then a final 2x upsampling and a 3x3 conv to the class logits. The output has the
input's resolution, which is what lets region aggregation (Sec. 4.3) supervise native-resolution
predictions with coarse labels.

Upsampling is bilinear with ``align_corners=False`` (:data:`UPSAMPLE_MODE`): smoother than
nearest at the full-resolution output and exported to ONNX as a standard ``Resize`` node.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import INPUT_MULTIPLE, UNetConfig  # noqa: F401 (re-exported)
from .resnet import ResNet18Encoder

UPSAMPLE_MODE = "bilinear"
"""Interpolation used by every 2x upsampling in the decoder (align_corners=False)."""



def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Double the spatial size of ``(B, C, H, W)`` with :data:`UPSAMPLE_MODE`."""
    return F.interpolate(x, scale_factor=2.0, mode=UPSAMPLE_MODE, align_corners=False)


class UpBlock(nn.Module):
    """Upsample 2x, concatenate the skip feature, then two 3x3 conv + ReLU (Table S5)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """``x`` upsampled and joined with the last map of ``skips`` (popped: see :func:`joined_consuming`),
        then the two convolutions, each input dropped as soon as the next map exists (a Sequential's
        caller would hold the concatenation, the block's largest map, until the last one)."""
        x = joined_consuming(x, skips)  # (B, C_in + C_skip, 2h, 2w)
        for layer in self.convs:
            x = layer(x)
        return x  # (B, C_out, 2h, 2w)


def joined_consuming(x: torch.Tensor, maps: list[torch.Tensor]) -> torch.Tensor:
    """``cat([upsample2x(x), skip])`` along channels, the skip popped from ``maps``.

    In eager inference nothing else needs the skip, so it is copied into the joined map first and
    released before ``x`` is upsampled: at the last block the upsampled map, the skip and their
    concatenation (four full half-resolution maps of ``w`` channels) are never alive together.
    The numbers are those of the concatenation (the same copies in another order). Training
    (autograd keeps the maps anyway) and graph capture (an ONNX export must stay one ``Concat``,
    not slice assignments) concatenate.
    """
    skip = maps.pop()
    if torch.is_grad_enabled() or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return torch.cat([upsample2x(x), skip], dim=1)
    batch, channels, height, width = skip.shape
    channels_last = skip.is_contiguous(memory_format=torch.channels_last)
    result = torch.empty((batch, x.shape[1] + channels, height, width), dtype=skip.dtype, device=skip.device,
                         memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    result[:, x.shape[1]:] = skip
    del skip
    result[:, :x.shape[1]] = upsample2x(x)
    return result


class UNetDecoder(nn.Module):
    """Turns the five encoder features into per-pixel class logits at input resolution.

    Args:
        encoder_channels: Channels of ``[stem, stage1, stage2, stage3, stage4]``.
        num_classes: Output logits per pixel.
    """

    def __init__(self, encoder_channels: list[int], num_classes: int) -> None:
        super().__init__()
        stem, stage1, stage2, stage3, stage4 = encoder_channels
        # Output widths 4w, 2w, w, w for the paper's encoder (Table S5).
        self.blocks = nn.ModuleList(
            [
                UpBlock(stage4, stage3, stage3),
                UpBlock(stage3, stage2, stage2),
                UpBlock(stage2, stage1, stage1),
                UpBlock(stage1, stem, stem),
            ]
        )
        self.head = nn.Conv2d(stem, num_classes, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.head(upsample2x(self.decode(features)))  # (B, num_classes, H, W)

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The four upsampling blocks: the map the head's upsampling and convolution turn into logits.

        Apart from :meth:`forward` so that inference can compute the head another way
        (``engine/inference/phase_head.py``) without repeating the blocks. ``features`` is emptied
        as it goes (the encoder made it for this call): each skip map is released once joined, so
        inference never holds the encoder's half-resolution map beside the last block's.
        """
        x = features.pop()  # stage4: (B, 8w, H/32, W/32)
        for block in self.blocks:  # skips: stage3, stage2, stage1, stem
            x = block(x, features)  # (B, 4w, H/16, W/16) ... (B, w, H/2, W/2)
        return x


class UNet(nn.Module):
    """ResNet-18 U-Net producing native-resolution class logits.

    Args:
        config: Architecture arguments; kept as ``self.config`` so checkpoints can rebuild it.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ResNet18Encoder(config.in_channels, config.width)
        self.decoder = UNetDecoder(self.encoder.out_channels, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Segment a batch of images.

        Args:
            x: Normalised images ``(B, in_channels, H, W)`` with H and W multiples of 32.

        Returns:
            Logits ``(B, num_classes, H, W)`` (no softmax: region aggregation sums logits).

        Raises:
            ValueError: If the input has the wrong rank, band count or size.
        """
        self._check_input(x)
        features = self.encoder(x)  # 5 maps, (B, w, H/2, W/2) ... (B, 8w, H/32, W/32)
        return self.decoder(features)  # (B, num_classes, H, W)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"UNet expects input of shape (batch, {self.config.in_channels}, height, width), "
                f"got {tuple(x.shape)}"
            )
        height, width = x.shape[-2:]
        if height % INPUT_MULTIPLE or width % INPUT_MULTIPLE:
            raise ValueError(
                f"UNet input height and width must be multiples of {INPUT_MULTIPLE}, got "
                f"{height} x {width}; pad or crop the tile (e.g. to "
                f"{-(-height // INPUT_MULTIPLE) * INPUT_MULTIPLE} x "
                f"{-(-width // INPUT_MULTIPLE) * INPUT_MULTIPLE})"
            )
