"""``encoder.pt``: the pretrained ResNet-18 that ``pretrain`` hands to ``fit --init``.

A small self-describing file, loadable with ``torch.load(weights_only=True)``::

    {"format": "low2high.encoder", "format_version": 1, "architecture": "resnet18-encoder",
     "in_channels": 4, "width": 64, "band_names": [...], "mean": [...], "std": [...],
     "state_dict": {name: tensor} (names of UNet.encoder), "extra": {...}}

It says which bands, in which order and normalisation, the encoder learned from, so ``fit`` can
refuse an encoder that cannot fit its network (another width, other bands) instead of starting
from weights that mean nothing for its input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from ...core.errors import Low2HighError
from ...core.files import atomic_write
from ...models.card import CheckpointError, to_plain
from ...models.checkpoint import read_torch_file

ENCODER_FORMAT = "low2high.encoder"
ENCODER_VERSION = 1
ENCODER_ARCHITECTURE = "resnet18-encoder"


@dataclass
class EncoderFile:
    """A pretrained encoder and what it was trained on."""

    in_channels: int
    width: int
    band_names: list[str]
    mean: list[float]
    std: list[float]
    state_dict: dict[str, torch.Tensor]
    extra: dict[str, Any] = field(default_factory=dict)


def save_encoder(path: str, state_dict: dict[str, torch.Tensor], in_channels: int, width: int,
                 band_names: Sequence[str], mean: Sequence[float], std: Sequence[float],
                 extra: dict[str, Any] | None = None) -> None:
    """Write ``encoder.pt`` atomically."""
    payload = {"format": ENCODER_FORMAT, "format_version": ENCODER_VERSION, "architecture": ENCODER_ARCHITECTURE,
               "in_channels": int(in_channels), "width": int(width), "band_names": list(band_names),
               "mean": [float(v) for v in mean], "std": [float(v) for v in std],
               "state_dict": {key: value.detach().cpu() for key, value in state_dict.items()},
               "extra": to_plain(extra or {}, "extra", allow_tensors=True)}
    atomic_write(path, lambda stream: torch.save(payload, stream))


def read_model_file(path: str) -> Any:
    """A model or encoder file read safely (weights only) by the checkpoints' reader, failures as a sentence."""
    try:
        return read_torch_file(path)
    except CheckpointError as error:
        raise Low2HighError(str(error)) from None


def parse_encoder(payload: dict[str, Any], path: str) -> EncoderFile:
    """Check an encoder payload read by :func:`read_model_file`."""
    if payload.get("architecture") != ENCODER_ARCHITECTURE:
        raise Low2HighError(f"'{path}' holds a {payload.get('architecture')!r} encoder; Low2High's U-Net starts from "
                            f"a {ENCODER_ARCHITECTURE!r} written by `pretrain`.")
    if int(payload.get("format_version", 0)) > ENCODER_VERSION:
        raise Low2HighError(f"'{path}' was written by a newer Low2High; update it to use this encoder.")
    try:
        return EncoderFile(int(payload["in_channels"]), int(payload["width"]), list(payload["band_names"]),
                           list(payload["mean"]), list(payload["std"]), dict(payload["state_dict"]),
                           dict(payload.get("extra") or {}))
    except (KeyError, TypeError, ValueError) as error:
        raise Low2HighError(f"'{path}' is a damaged encoder file ({error}).") from None
