"""The architecture description of a Low2High network, free of torch.

Model files carry a :class:`UNetConfig`; reading one (for example from an ONNX file run by
ONNX Runtime in a QGIS without PyTorch) must not need torch.
"""

from __future__ import annotations

from dataclasses import dataclass

INPUT_MULTIPLE = 32
"""Input height and width must be multiples of this (the encoder downsamples 32x)."""


@dataclass
class UNetConfig:
    """Everything needed to rebuild a :class:`UNet` (stored in checkpoints and ONNX metadata).

    Attributes:
        in_channels: Image bands (4 for NAIP RGB + NIR).
        num_classes: Output classes (4 for the paper's merged taxonomy).
        width: ResNet-18 base width (64 in the paper; all layer widths scale with it).
    """

    in_channels: int = 4
    num_classes: int = 4
    width: int = 64

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"UNetConfig.{name} must be a positive integer, got {value!r}")


@dataclass
class PixelMLPConfig:
    """Everything needed to rebuild a :class:`~low2high.models.pixel.PixelMLP`.

    The context-free baseline: each pixel is classified from its own band values only.

    Attributes:
        in_channels: Image bands.
        num_classes: Output classes.
        hidden: Units of each hidden layer.
        layers: Hidden layers (0 gives a linear classifier).
    """

    in_channels: int = 4
    num_classes: int = 4
    hidden: int = 64
    layers: int = 2

    def __post_init__(self) -> None:
        for name in ("in_channels", "num_classes", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PixelMLPConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.layers, bool) or not isinstance(self.layers, int) or self.layers < 0:
            raise ValueError(f"PixelMLPConfig.layers must be a whole number >= 0, got {self.layers!r}")
