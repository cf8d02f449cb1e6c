"""Where a fine-tuning run writes, checked against everything it reads before any training.

A run trains for minutes and then writes four files: OUTPUT_MODEL, the ``.onnx`` export beside
it, and optionally OUTPUT_MAP and OUTPUT_PLOT. Any of them landing on an input (the base model,
the coarse labels, the exemplars, the prior) destroys it, and any that cannot be written would
be found only after the training; so all of them are checked here, at once, by the one
destination check (:func:`~low2high.core.destinations.check_destination`). The QGIS algorithm
checks all four; the engine and the headless command, which write the model only, check it and
its export.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ...core.destinations import RASTER_EXTENSIONS, check_destination
from .config import FinetuneConfig
from .model import DEMO_MODEL

ONNX_BESIDE = "OUTPUT_MODEL's .onnx export"
"""How messages name the export written beside OUTPUT_MODEL (it has no parameter of its own)."""


@dataclass(frozen=True)
class FinetuneDestinations:
    """The absolute paths a run will write (None: not written)."""

    model: str
    onnx: Optional[str]
    map: Optional[str] = None
    plot: Optional[str] = None


def onnx_path(output: str) -> str:
    """The export's path: OUTPUT_MODEL with ``.onnx`` for ``.pt`` (what Deepness and segment look for)."""
    return os.path.splitext(output)[0] + ".onnx"


def finetune_inputs(config: FinetuneConfig) -> dict[str, Optional[str]]:
    """Every file a run reads, by parameter name (the bundled demo model when MODEL is empty)."""
    mapping = config.mapping if config.mapping and os.path.isfile(config.mapping) else None
    return {"INPUT": config.image, "LOW_RES_LABELS": config.labels, "MODEL": config.model or DEMO_MODEL,
            "EXEMPLARS": config.exemplars, "PRIOR": config.prior, "LABEL_MAPPING": mapping}


def check_finetune_outputs(config: FinetuneConfig, map_path: Optional[str] = None,
                           plot_path: Optional[str] = None) -> FinetuneDestinations:
    """Check every file the run will write; nothing is created.

    Raises:
        Low2HighError: the first destination that is an input, another output, of the wrong kind
            or in a folder that cannot be written, named by its parameter.
    """
    inputs = finetune_inputs(config)
    model = check_destination(config.output, "OUTPUT_MODEL", (".pt",), inputs=inputs)
    outputs: dict[str, Optional[str]] = {"OUTPUT_MODEL": model}
    onnx = None
    if config.onnx:
        onnx = check_destination(onnx_path(model), ONNX_BESIDE, (".onnx",), inputs=inputs, outputs=outputs)
        outputs[ONNX_BESIDE] = onnx
    map_output = check_destination(map_path, "OUTPUT_MAP", RASTER_EXTENSIONS, inputs=inputs, outputs=outputs,
                                   required=False)
    outputs["OUTPUT_MAP"] = map_output
    plot = check_destination(plot_path, "OUTPUT_PLOT", (".png",), inputs=inputs, outputs=outputs, required=False)
    return FinetuneDestinations(model, onnx, map_output, plot)


def check_model_output(config: FinetuneConfig) -> str:
    """OUTPUT_MODEL as an absolute ``.pt`` path, after checking it and its export (see the module)."""
    return check_finetune_outputs(config).model
