"""Export a checkpoint to ONNX with its model card as metadata, and check the export.

The .onnx file runs in QGIS without PyTorch (ONNX Runtime), and in the Deepness plugin, which
reads the metadata keys Low2High writes (model_type, class_names, resolution, tile_size,
tiles_overlap rounded up to whole percent, standardization_mean/std, seg_thresh 0 so Deepness
does not turn unsure pixels into class 0). By default the input has the card's fixed tile size and
the output is softmax probabilities, as Deepness expects; --logits changes that. Deepness cannot
load a --dynamic-size export nor feed a model trained on per-tile standardisation, so those are
refused unless --deepness false asks for a file for Low2High only.
After writing, ONNX Runtime runs the file on a random batch and the largest difference from
PyTorch is printed (an export that differs by more than --atol is an error).
"""
from __future__ import annotations

import argparse
import os

from ..config import add_config_arguments, resolve_config
from ..fit.export import ExportConfig, export_checkpoint

HELP = "export a checkpoint to ONNX with metadata (QGIS without PyTorch, Deepness) and verify it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, ExportConfig)


def run(args: argparse.Namespace) -> int:
    output, difference = export_checkpoint(resolve_config(ExportConfig, args))
    size = os.path.getsize(output) / 2 ** 20
    check = f"; ONNX Runtime matches PyTorch (max abs difference {difference:.2e})" if difference is not None else ""
    print(f"Wrote {output} ({size:.1f} MB){check}.")
    return 0
