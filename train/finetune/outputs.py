"""The fine-tuned model's files, published together or not at all.

The ``.pt`` checkpoint and its ``.onnx`` export are staged in one
:class:`~low2high.core.publication.Publication`: written under hidden names beside their
destinations and renamed into place only when both are complete, and (in the QGIS algorithm)
together with OUTPUT_MAP and OUTPUT_PLOT. A cancelled, interrupted or failed run leaves no
half-written model and never replaces an existing model or export.
"""
from __future__ import annotations

import os
from typing import Optional

from torch import nn

from ...core.errors import Low2HighError
from ...core.progress import Progress, check_canceled
from ...core.publication import Publication
from ...models.card import CheckpointError, ModelCard
from ...models.checkpoint import save_checkpoint
from .destinations import onnx_path


def publish_model(network: nn.Module, card: ModelCard, output: str, with_onnx: bool, extra: dict,
                  progress: Progress, publication: Optional[Publication] = None) -> Optional[str]:
    """Write ``output`` (and its .onnx unless ``with_onnx`` is False); returns the .onnx path or None.

    Args:
        publication: Stage both files in the run's publication (the caller commits it with its
            other outputs); by default they are published here, as soon as both are written.
    """
    if publication is None:
        with Publication(check=lambda: check_canceled(progress)) as own:
            return publish_model(network, card, output, with_onnx, extra, progress, own)
    try:
        save_checkpoint(publication.stage(output, ".pt"), network, card, extra=extra)
    except CheckpointError as error:
        raise Low2HighError(f"The model cannot be saved: {error}") from None
    export = onnx_path(output)
    if with_onnx:
        if _export(network, card, publication.stage(export, ".onnx"), progress):
            return export
        publication.drop(export)
    if os.path.exists(export):
        progress.warn(f"'{export}' was left as it was: it belongs to an earlier model, not this one.")
    return None


def _export(network: nn.Module, card: ModelCard, path: str, progress: Progress) -> bool:
    """Write the ONNX export (checked with ONNX Runtime); False with a warning when it cannot be made."""
    try:
        from ...models.onnx_export import OnnxVerificationError, export_onnx, verify_onnx_export

        export_onnx(network, card, path)
        verify_onnx_export(network, path)
    except ImportError as error:
        progress.warn(f"No .onnx export: the Python package '{error.name}' is missing (pip install onnx "
                      "onnxruntime); the .pt model is complete.")
        return False
    except OnnxVerificationError as error:
        progress.warn(f"No .onnx export: {error}")
        return False
    return True
