"""Self-describing model checkpoints: a ``.pt`` file alone is enough to run the model.

A checkpoint is a ``torch.save``-d dict of tensors and JSON-like values only, so it loads with
``torch.load(weights_only=True)`` and never executes code from the file::

    {"format": "low2high.checkpoint", "format_version": 1,
     "architecture": "unet-resnet18" | "pixel-mlp",
     "config": {UNetConfig | PixelMLPConfig fields}, "card": {ModelCard fields},
     "state_dict": {name: cpu tensor}, "extra": {...}}

``architecture`` names the network (:mod:`.architectures`): the paper's U-Net, or the per-pixel
baseline classifier; :meth:`LoadedCheckpoint.build_model` rebuilds whichever it is.

Every way a file can be unusable ends in :class:`CheckpointError` whose message a GIS user can
act on (wrong file, damaged download, made by a newer version, ...).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ..core.files import atomic_write
from .architectures import architecture_of, build_network
from .card import (
    ARCHITECTURE,
    FORMAT_VERSION,
    CheckpointError,
    ModelCard,
    NetworkConfig,
    check_card_matches,
    existing_model_file,
    parse_description,
    to_plain,
)

FORMAT = "low2high.checkpoint"

_ZIP_MAGIC = b"PK\x03\x04"
# torch.save's legacy (pre-1.6) format starts with a pickled magic number.
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"

__all__ = [
    "CheckpointError",
    "LoadedCheckpoint",
    "ModelCard",
    "load_checkpoint",
    "read_checkpoint_card",
    "save_checkpoint",
]


def _unwrap(model: nn.Module) -> nn.Module:
    # DistributedDataParallel keeps the network in .module, torch.compile in ._orig_mod.
    for attribute in ("module", "_orig_mod"):
        inner = getattr(model, attribute, None)
        if isinstance(inner, nn.Module):
            return _unwrap(inner)
    return model


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, card: ModelCard, extra: dict | None = None
) -> None:
    """Save a self-describing checkpoint atomically (never a half-written file).

    Args:
        path: Destination ``.pt`` file; an existing file is replaced.
        model: A :class:`UNet` or :class:`PixelMLP` (DDP- or ``torch.compile``-wrapped networks
            are unwrapped).
        card: Its model card; band and class counts must match the network.
        extra: Optional extra content (e.g. training step, metrics): JSON-like values and
            tensors only.

    Raises:
        CheckpointError: If the card does not match the network or ``extra`` holds objects
            that cannot be stored.
    """
    network = _unwrap(model)
    architecture = architecture_of(network)
    check_card_matches(network.config, card, "save_checkpoint")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "config": asdict(network.config),
        "card": card.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "extra": to_plain(extra or {}, "extra", allow_tensors=True),
    }
    atomic_write(path, lambda stream: torch.save(payload, stream))


@dataclass
class LoadedCheckpoint:
    """A validated checkpoint: description, weights and extra content.

    Attributes:
        config: Architecture arguments.
        card: Model card.
        state_dict: CPU tensors whose names and shapes match the network built from ``config``.
        extra: The ``extra`` dict given to :func:`save_checkpoint`.
        architecture: The network's name ("unet-resnet18" or "pixel-mlp").
    """

    config: NetworkConfig
    card: ModelCard
    state_dict: dict[str, torch.Tensor]
    extra: dict
    architecture: str = ARCHITECTURE

    def build_model(self, device: str | torch.device = "cpu") -> nn.Module:
        """Rebuild the network (U-Net or per-pixel MLP) with its weights, in eval mode."""
        model = build_network(self.architecture, self.config)
        model.load_state_dict(self.state_dict, strict=True)
        return model.to(device).eval()


def read_torch_file(path: str | os.PathLike, *, mmap: bool = False) -> Any:
    """``torch.load`` with every failure turned into a user-readable :class:`CheckpointError`."""
    source = str(path)
    file = existing_model_file(path)
    try:
        with open(file, "rb") as stream:
            head = stream.read(len(_LEGACY_TORCH_MAGIC))
    except OSError as error:
        raise CheckpointError(f"{source} cannot be read: {error.strerror or error}") from error
    if not head:
        raise CheckpointError(f"{source} is empty (0 bytes); save or download the model again")
    is_zip = head.startswith(_ZIP_MAGIC)
    if not is_zip and not head.startswith(_LEGACY_TORCH_MAGIC):
        raise CheckpointError(
            f"{source} is not a PyTorch model file (Low2High reads .pt checkpoints saved by "
            "Low2High and .onnx exports); it may be damaged or a different kind of file"
        )
    try:
        return torch.load(file, map_location="cpu", weights_only=True, mmap=mmap and is_zip)
    except Exception as error:  # torch raises many types for bad files; classify by content
        if isinstance(error, pickle.UnpicklingError) and "Weights only" in str(error):
            raise CheckpointError(
                f"{source} is not a Low2High model: it contains Python objects besides weights "
                "(for example a whole pickled network or another program's checkpoint), which "
                "Low2High does not load because they could run code"
            ) from None
        raise CheckpointError(
            f"{source} is damaged or incomplete (for example an interrupted copy or download) "
            "and cannot be read; save or download the model again"
        ) from None


def _explain_foreign(payload: Any) -> str:
    if not isinstance(payload, Mapping):
        return f"it holds a {type(payload).__name__} instead of a Low2High checkpoint"
    if payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return (
            "it holds only bare network weights, a state_dict, and lacks the description "
            "Low2High needs: architecture, classes, bands and normalisation; save models with "
            "Low2High's save_checkpoint"
        )
    if "state_dict" in payload:
        return "it looks like a training checkpoint of another program (e.g. PyTorch Lightning)"
    return "the Low2High format marker is missing"


def _check_state_dict(state_dict: Any, architecture: str, config: NetworkConfig, source: str) -> dict:
    """Check names and shapes against the network built on the meta device (no memory)."""
    if not isinstance(state_dict, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state_dict.values()
    ):
        raise CheckpointError(f"{source} is damaged: its weights are missing or unreadable")
    with torch.device("meta"):
        expected = build_network(architecture, config).state_dict()
    problems = []
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing:
        problems.append(f"{len(missing)} missing, e.g. {missing[0]!r}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]!r}")
    for name, tensor in expected.items():
        if name in state_dict and state_dict[name].shape != tensor.shape:
            problems.append(
                f"{name!r} has shape {tuple(state_dict[name].shape)} instead of "
                f"{tuple(tensor.shape)}"
            )
            break
    if problems:
        raise CheckpointError(
            f"{source} is damaged or inconsistent: its weights do not match its architecture "
            f"description ({'; '.join(problems)})"
        )
    return dict(state_dict)


def _parse(path: str | os.PathLike, *, mmap: bool) -> LoadedCheckpoint:
    return checkpoint_from_payload(read_torch_file(path, mmap=mmap), str(path))


def checkpoint_from_payload(payload: Any, source: str) -> LoadedCheckpoint:
    """Validate what :func:`read_torch_file` read as a checkpoint (for callers that read a file once and
    then decide what it is, e.g. ``fit --init`` taking an encoder or a checkpoint)."""
    if not isinstance(payload, Mapping) or "format" not in payload:
        raise CheckpointError(f"{source} is not a Low2High model: {_explain_foreign(payload)}")
    config, card = parse_description(payload, expected_format=FORMAT, source=source)
    architecture = payload["architecture"]  # validated by parse_description
    state_dict = _check_state_dict(payload.get("state_dict"), architecture, config, source)
    extra = payload.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise CheckpointError(f"{source} is damaged: its extra content is not a dict")
    return LoadedCheckpoint(config, card, state_dict, dict(extra), architecture)


def load_checkpoint(path: str | os.PathLike) -> LoadedCheckpoint:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: The ``.pt`` file.

    Returns:
        The validated checkpoint; call :meth:`LoadedCheckpoint.build_model` to run it.

    Raises:
        CheckpointError: If the file is missing, damaged, not a Low2High model, made by a newer
            Low2High, of an unknown architecture, or inconsistent with its description.
    """
    return _parse(path, mmap=False)


def read_checkpoint_card(path: str | os.PathLike) -> tuple[NetworkConfig, ModelCard, dict]:
    """Read a checkpoint's description without loading its weights into memory.

    The file is memory-mapped, so this is cheap even for large models (e.g. to fill in the
    tile size or band list of a QGIS dialog). The same validation as :func:`load_checkpoint`
    applies.

    Returns:
        ``(config, card, extra)``.

    Raises:
        CheckpointError: As :func:`load_checkpoint`.
    """
    loaded = _parse(path, mmap=True)
    return loaded.config, loaded.card, loaded.extra
