"""ONNX export with self-describing metadata, readable by Low2High and the Deepness plugin.

The exported graph has one input ``"input"`` ``(batch, bands, tile, tile)`` (normalised as the
card says) and one output ``"output"``: softmax probabilities ``(batch, classes, tile, tile)``
(what Deepness expects) or raw logits. The model's ``metadata_props`` hold JSON-encoded values:

* Deepness keys: ``model_type`` ("Segmentor"), ``class_names`` ({"0": name, ...}),
  ``resolution`` (centimetres per pixel), ``tile_size``, ``tiles_overlap`` (percent of the
  tile, rounded up), ``standardization_mean``, ``standardization_std``, ``seg_thresh``,
  ``seg_small_segment`` (0: no smoothing). They are
  written only for files Deepness can run as they are (:func:`deepness_problem`): a fixed tile
  size and the card's own statistics.
* ``low2high``: ``{"format": "low2high.onnx", "format_version": 1, "architecture":
  "unet-resnet18" | "pixel-mlp", "config": {...}, "card": {...}, "output": "probabilities" | "logits",
  "input_size": [tile, tile] | None}`` (None when height and width are dynamic).

``onnx`` and ``onnxruntime`` are imported inside the functions so that importing this module
(and the plugin) works without them.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import warnings
from dataclasses import asdict
from typing import Any, Optional

import numpy as np
import torch
from torch import nn

from ..core.files import atomic_write
from .architectures import architecture_of
from .card import FORMAT_VERSION, CheckpointError, ModelCard, check_card_matches
from .onnx_card import METADATA_KEY, ONNX_FORMAT, OUTPUTS, _read_description, open_onnx_session


class OnnxVerificationError(RuntimeError):
    """The exported ONNX model does not reproduce the PyTorch model's output."""


class _ExportHead(nn.Module):
    """Wraps the U-Net so the exported graph ends with the requested output."""

    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model = model
        self.probabilities = output == "probabilities"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)  # (B, C, H, W)
        return torch.softmax(logits, dim=1) if self.probabilities else logits


def deepness_overlap_percent(card: ModelCard) -> int:
    """``tiles_overlap`` for Deepness: the card's overlap in whole percent of the tile, rounded up.

    Deepness reads the key as an integer percentage and overlaps ``floor(tile * percent / 100)``
    pixels; rounding to nearest gave 12 % for 64 of 512 px, so Deepness overlapped 61 px instead
    of 64. Rounding up overlaps at least the card's pixels.
    """
    return math.ceil(100 * card.tile_overlap / card.tile_size)


def deepness_metadata(card: ModelCard) -> dict[str, Any]:
    """The metadata keys the Deepness QGIS plugin reads, as Python values (not yet JSON).

    ``seg_thresh`` is always written: without it Deepness applies its own default of 0.5 and gives
    class 0 to every pixel less sure than that (61 % of a real patch became "water" with the demo
    model); the card's ``probability_threshold`` (0: off) is what ``segment`` applies too. So is
    ``seg_small_segment`` 0: Deepness's panel otherwise smooths the finished map with a 9-pixel
    median filter, which ``segment`` does not.
    """
    return {
        "model_type": "Segmentor",
        "class_names": {str(i): name for i, name in enumerate(card.class_names)},
        "resolution": card.gsd * 100.0,  # Deepness wants centimetres per pixel
        "tile_size": card.tile_size,
        "tiles_overlap": deepness_overlap_percent(card),
        "standardization_mean": list(card.mean),
        "standardization_std": list(card.std),
        "seg_thresh": card.probability_threshold,
        "seg_small_segment": 0,
    }


def deepness_problem(card: ModelCard, dynamic_size: bool, output: str = "probabilities") -> Optional[str]:
    """Why Deepness cannot run this export as it is (a sentence), or None when it can.

    Deepness puts the graph's input width into its tile-size box, so a dynamic-size graph fails to
    load there; it standardises every tile with the fixed ``standardization_mean/std``, so a
    model trained on each tile's own statistics would be fed inputs it never saw; and it compares
    the raw output with ``seg_thresh``, which means nothing for logits.
    """
    if dynamic_size:
        return ("Deepness cannot load a dynamic-size export (it reads the tile size from the input's width, "
                "which is then a name, not a number); export with the fixed tile size instead")
    if card.standardisation == "tile":
        return ("Deepness cannot run this model: its card standardises each tile by the tile's own mean and std, "
                "and Deepness feeds every tile the fixed standardization_mean/std, inputs the model never saw")
    if output == "logits" and card.probability_threshold > 0:
        return ("Deepness would compare this export's logits with the card's probability threshold; export "
                "probabilities instead")
    return None


def export_onnx(
    model: nn.Module,
    card: ModelCard,
    path: str | os.PathLike,
    *,
    output: str = "probabilities",
    dynamic_size: bool = False,
    opset: int = 17,
    deepness: Optional[bool] = None,
) -> None:
    """Export the network to ONNX with its model card as metadata, atomically.

    The network is copied to the CPU in eval mode first, so the caller's model (possibly on a
    GPU and in training mode) is left untouched.

    Args:
        model: The network (:class:`UNet` or :class:`PixelMLP`).
        card: Its model card; ``card.tile_size`` fixes the input size unless ``dynamic_size``.
        path: Destination ``.onnx`` file; an existing file is replaced.
        output: ``"probabilities"`` (softmax, for Deepness) or ``"logits"``.
        dynamic_size: Also make height and width dynamic (multiples of 32 at run time).
            Deepness cannot load such a file, so the default is a fixed ``tile_size`` input.
        opset: ONNX opset version.
        deepness: True: the file must run in Deepness (refused with the reason otherwise);
            False: no Deepness keys; None: Deepness keys when Deepness can run the file
            (:func:`deepness_problem`), so Low2High-only exports (the int8 cache's dynamic graphs,
            per-tile standardised cards) never mislead Deepness with keys it would misuse.

    Raises:
        ValueError: For an unknown ``output``.
        CheckpointError: If the card's bands or classes do not match the network, or Deepness
            was asked for and cannot run the export.
    """
    import onnx

    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    check_card_matches(model.config, card, "export_onnx")
    problem = deepness_problem(card, dynamic_size, output)
    if deepness and problem:
        raise CheckpointError(f"{problem}.")
    network = _ExportHead(copy.deepcopy(model).cpu().eval(), output).eval()
    size = card.tile_size
    dummy = torch.zeros(1, model.config.in_channels, size, size)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs extra
        # packages; it is still the robust choice for a plain CNN, so silence the notice.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            network,
            (dummy,),
            buffer,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": axes, "output": axes},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())

    description = {
        "format": ONNX_FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": architecture_of(model),
        "config": asdict(model.config),
        "card": card.to_dict(),
        "output": output,
        "input_size": None if dynamic_size else [size, size],
    }
    for_deepness = deepness is not False and problem is None
    metadata = {**(deepness_metadata(card) if for_deepness else {}), METADATA_KEY: description}
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    proto.producer_name = "low2high"
    atomic_write(path, lambda stream: stream.write(proto.SerializeToString()))


def verify_onnx_export(
    model: nn.Module, path: str | os.PathLike, *, batch: int = 2, seed: int = 0, atol: float = 1e-3,
    name: Optional[str] = None,
) -> float:
    """Check that the exported file computes what the PyTorch model computes.

    Runs both on the same random normalised input (the file's fixed size, or the card's tile
    size when the size is dynamic) and compares outputs of the exported kind.

    Args:
        model: The PyTorch network that was exported (evaluated on a CPU copy in eval mode).
        path: The ``.onnx`` file.
        name: How messages name it (default ``path``; the destination, when ``path`` is its hidden work file).
        batch: Batch size of the test input (also checks the dynamic batch axis).
        seed: Seed of the random input.
        atol: Largest accepted absolute difference.

    Returns:
        The largest absolute difference between the two outputs.

    Raises:
        OnnxVerificationError: If the difference exceeds ``atol``.
        CheckpointError: If the file cannot be read or has no Low2High metadata.
    """
    source = name or str(path)
    session = open_onnx_session(path)
    description = _read_description(session, source)
    size = description.get("input_size") or [description["card"]["tile_size"]] * 2
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, model.config.in_channels, *size, generator=generator)
    reference_model = _ExportHead(copy.deepcopy(model).cpu().eval(), description["output"])
    with torch.no_grad():
        expected = reference_model(x).numpy()  # (B, C, H, W)
    (actual,) = session.run(["output"], {"input": x.numpy()})  # (B, C, H, W)
    if actual.shape != expected.shape:
        raise OnnxVerificationError(
            f"{source}: ONNX output shape {actual.shape} differs from PyTorch {expected.shape}"
        )
    difference = float(np.max(np.abs(actual - expected)))
    if not difference <= atol:
        raise OnnxVerificationError(
            f"{source}: ONNX output differs from PyTorch by up to {difference:.3g} "
            f"(tolerance {atol:.3g})"
        )
    return difference
