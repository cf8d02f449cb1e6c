"""Which networks a model file may hold, by the ``architecture`` name stored in it.

Checkpoints and ONNX exports name their network ("unet-resnet18", "pixel-mlp"); this table turns
the name back into a network class. The torch-free side of the table (name -> config class) lives
in :mod:`.card`, so ONNX files can be described where PyTorch is not installed.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .card import CheckpointError
from .pixel import PixelMLP
from .unet import UNet

NETWORKS: dict[str, type[nn.Module]] = {"unet-resnet18": UNet, "pixel-mlp": PixelMLP}


def architecture_of(model: nn.Module) -> str:
    """The stored architecture name of a network (after unwrapping DDP / torch.compile)."""
    for name, network in NETWORKS.items():
        if type(model) is network:
            return name
    raise TypeError(
        f"Low2High model files hold {' or '.join(n.__name__ for n in NETWORKS.values())} networks, "
        f"got {type(model).__name__}"
    )


def build_network(architecture: str, config: Any) -> nn.Module:
    """A freshly initialised network of the named architecture."""
    if architecture not in NETWORKS:
        raise CheckpointError(f"unknown network architecture {architecture!r}")
    return NETWORKS[architecture](config)
