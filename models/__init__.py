"""Pure-PyTorch models of Low2High: networks, paper operations, checkpoints, ONNX export.

Names are re-exported lazily so that ``import low2high.models`` stays cheap and never imports
``onnx`` or ``onnxruntime`` (those are imported only inside the ONNX functions).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BasicBlock": "resnet",
    "ResNet18Encoder": "resnet",
    "UNet": "unet",
    "UNetConfig": "config",
    "PixelMLP": "pixel",
    "PixelMLPConfig": "config",
    "architecture_of": "architectures",
    "build_network": "architectures",
    "count_flops": "flops",
    "CheckpointError": "card",
    "LoadedCheckpoint": "checkpoint",
    "ModelCard": "card",
    "load_checkpoint": "checkpoint",
    "read_checkpoint_card": "checkpoint",
    "save_checkpoint": "checkpoint",
    "export_onnx": "onnx_export",
    "read_onnx_card": "onnx_card",
    "verify_onnx_export": "onnx_export",
    "region_aggregate": "ops",
    "soft_argmax": "ops",
    "gaussian_blur": "ops",
    "Discriminator": "discriminator",
    "DiscriminatorBlock": "discriminator",
    "MAEConfig": "mae",
    "MaskedAutoencoder": "mae",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
