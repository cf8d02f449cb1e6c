"""Export a checkpoint to ONNX with its model card as metadata, and verify it (``python -m low2high.train export``)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Optional

from ...core.destinations import check_destination
from ...core.errors import Low2HighError
from ..config import field


@dataclass
class ExportConfig:
    """Settings of ``export`` (flags, or a YAML/JSON file with ``--config``)."""

    checkpoint: str = field("", "model checkpoint (.pt), e.g. best.pt of fit")
    output: str = field("", "ONNX file to write (default: the checkpoint's name with .onnx)")
    dynamic_size: bool = field(False, "accept any height and width (multiples of 32) instead of the fixed tile size; "
                               "Deepness cannot load such a file, so it needs --deepness false")
    logits: bool = field(False, "output raw logits instead of softmax probabilities")
    tile_size: Optional[int] = field(None, "fixed input side and card tile size (empty: the checkpoint's)")
    opset: int = field(17, "ONNX opset version")
    verify: bool = field(True, "run the export with ONNX Runtime and compare with PyTorch")
    atol: float = field(1e-3, "largest accepted difference between ONNX and PyTorch outputs")
    deepness: bool = field(True, "a file the Deepness QGIS plugin runs as it is: its metadata written, and an export "
                           "it cannot run refused (--dynamic-size, a card with per-tile standardisation); false: a "
                           "file for Low2High only")


def export_checkpoint(config: ExportConfig) -> tuple[str, Optional[float]]:
    """Write the ONNX file; returns its path and the verified max abs difference (None if not verified).

    Raises:
        Low2HighError: an unusable checkpoint, a bad tile size, or an export that does not match.
    """
    from ...core.publication import Publication
    from ...models.card import CheckpointError
    from ...models.checkpoint import load_checkpoint
    from ...models.onnx_export import OnnxVerificationError, export_onnx, verify_onnx_export

    if not config.checkpoint:
        raise Low2HighError("export needs --checkpoint.")
    if not os.path.isfile(config.checkpoint):
        raise Low2HighError(f"The checkpoint '{config.checkpoint}' does not exist; give the .pt file fit wrote "
                            "(e.g. runs/NAME/best.pt).")
    output = check_destination(config.output or os.path.splitext(config.checkpoint)[0] + ".onnx", "--output",
                               (".onnx",), inputs={"--checkpoint": config.checkpoint}, create_folder=True)
    try:
        loaded = load_checkpoint(config.checkpoint)
        card = loaded.card
        if config.tile_size is not None:
            overlap = min(card.tile_overlap, config.tile_size // 2)
            card = dataclasses.replace(card, tile_size=config.tile_size, tile_overlap=overlap)
        model = loaded.build_model()
        # Published only once verified: an export that does not match (or a Ctrl-C meanwhile) left the
        # unverified file in place of the previous one.
        with Publication() as publication:
            staged = publication.stage(output)
            export_onnx(model, card, staged, output="logits" if config.logits else "probabilities",
                        dynamic_size=config.dynamic_size, opset=config.opset, deepness=config.deepness)
            difference = verify_onnx_export(model, staged, atol=config.atol, name=output) if config.verify else None
    except OnnxVerificationError as error:
        raise Low2HighError(f"{error}; nothing was written (an earlier {os.path.basename(output)} stays as it was). "
                            "Give a larger --atol if that difference is acceptable, or try another --opset.") from None
    except CheckpointError as error:
        raise Low2HighError(str(error)) from None
    return output, difference
