"""The fine-tuned model's files, published together or not at all.

The ``.pt`` checkpoint and its ``.onnx`` export are written to hidden temporary files beside the
destination and renamed into place only when both are complete: a cancelled or failed run leaves
no half-written model, and never touches the base model or an existing output before the end.
"""
from __future__ import annotations

import os
from typing import Optional

from torch import nn

from ...low2high_plugin.errors import Low2HighError
from ...low2high_plugin.geo.partials import held, sweep_stale, work_stem
from ...low2high_plugin.progress import Progress, check_canceled
from ...models.card import CheckpointError, ModelCard
from ...models.checkpoint import save_checkpoint
from ...models.file_identity import same_file


def check_model_output(output: str, inputs: list[str]) -> str:
    """OUTPUT_MODEL as an absolute ``.pt`` path in an existing folder, none of the inputs.

    Raises:
        Low2HighError: no path, another extension, a missing folder, or an input's path (the base model).
    """
    if not output:
        raise Low2HighError("No OUTPUT_MODEL file was given.")
    given, output = output, os.path.abspath(output)
    if os.path.splitext(output)[1].lower() != ".pt":
        raise Low2HighError(f"OUTPUT_MODEL must be a .pt file (the .onnx export is written beside it), not "
                            f"'{os.path.basename(output)}'.")
    if not os.path.isdir(os.path.dirname(output)):
        raise Low2HighError(f"The folder of OUTPUT_MODEL does not exist: '{os.path.dirname(output)}'.")
    for source in filter(None, inputs):
        # the .onnx export is written beside the .pt; either may name an input another way
        if same_file(source, given) or same_file(source, onnx_path(given)):
            raise Low2HighError(f"OUTPUT_MODEL would overwrite an input ('{source}'); choose another file name so "
                                "the base model is kept.")
    return output


def onnx_path(output: str) -> str:
    return os.path.splitext(output)[0] + ".onnx"


def publish_model(network: nn.Module, card: ModelCard, output: str, with_onnx: bool, extra: dict,
                  progress: Progress) -> Optional[str]:
    """Write ``output`` (and its .onnx unless ``with_onnx`` is False); returns the .onnx path or None."""
    folder, name = os.path.split(output)
    sweep_stale(folder or ".", name)  # what killed runs left beside this output
    stem = work_stem(folder, name, "partial")  # recognisably ours; held, so a later sweep spares a live run
    temporary_pt, temporary_onnx = stem + ".pt", stem + ".onnx"
    written_onnx = None
    with held(stem):
        written_onnx = _write_pair(network, card, output, with_onnx, extra, temporary_pt, temporary_onnx, progress)
    return onnx_path(output) if written_onnx else None


def _write_pair(network: nn.Module, card: ModelCard, output: str, with_onnx: bool, extra: dict, temporary_pt: str,
                temporary_onnx: str, progress: Progress) -> Optional[str]:
    """Write both files under their temporary names, then publish them (the .onnx first)."""
    written_onnx = None
    try:
        save_checkpoint(temporary_pt, network, card, extra=extra)
        if with_onnx:
            written_onnx = _export(network, card, temporary_onnx, progress)
        check_canceled(progress)
        if written_onnx:
            os.replace(temporary_onnx, onnx_path(output))
        elif os.path.exists(onnx_path(output)):
            progress.warn(f"'{onnx_path(output)}' was left as it was: it belongs to an earlier model, not this one.")
        os.replace(temporary_pt, output)
    except CheckpointError as error:
        raise Low2HighError(f"The model cannot be saved: {error}") from None
    finally:
        for path in (temporary_pt, temporary_onnx):
            if os.path.exists(path):
                os.remove(path)
    return written_onnx


def _export(network: nn.Module, card: ModelCard, path: str, progress: Progress) -> Optional[str]:
    """The ONNX export (checked with ONNX Runtime), or None with a warning when the packages are missing."""
    try:
        from ...models.onnx_export import OnnxVerificationError, export_onnx, verify_onnx_export

        export_onnx(network, card, path)
        verify_onnx_export(network, path)
    except ImportError as error:
        progress.warn(f"No .onnx export: the Python package '{error.name}' is missing (pip install onnx "
                      "onnxruntime); the .pt model is complete.")
        return None
    except OnnxVerificationError as error:
        progress.warn(f"No .onnx export: {error}")
        return None
    return path
