"""Read what an exported ONNX model says about itself, with ONNX Runtime only.

The QGIS plugin runs ``.onnx`` models where PyTorch may not be installed, so nothing here
imports torch (or the ``onnx`` package).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

from .card import CheckpointError, ModelCard, NetworkConfig, existing_model_file, parse_description

ONNX_FORMAT = "low2high.onnx"
METADATA_KEY = "low2high"
OUTPUTS = ("probabilities", "logits")


def open_onnx_session(path: str | os.PathLike, providers: Sequence[str] = ("CPUExecutionProvider",),
                      threads: int = 0) -> Any:
    """An ONNX Runtime session, with file problems turned into :class:`CheckpointError`.

    The one session a model gets: its metadata (:func:`describe_onnx_session`) and its inference
    come from the same parsed, optimised graph. ``threads``: the CPU threads one run may use
    (0: ONNX Runtime's default, one per core).
    """
    import onnxruntime as ort

    source = str(path)
    file = existing_model_file(path)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a bad file is reported by our message
    options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(file), options, providers=list(providers))
    except Exception:  # onnxruntime raises its own exception types for unreadable files
        raise CheckpointError(
            f"{source} cannot be read as an ONNX model: it is damaged, incomplete (for example "
            "an interrupted copy or download) or not an ONNX file"
        ) from None


def _read_description(session: Any, source: str) -> dict[str, Any]:
    metadata = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in metadata:
        raise CheckpointError(
            f"{source} is not a Low2High model; the Low2High description (ONNX metadata "
            f"'{METADATA_KEY}') is missing, so its bands, classes and normalisation are unknown"
        )
    try:
        description = json.loads(metadata[METADATA_KEY])
    except ValueError:
        description = None
    if not isinstance(description, dict):
        raise CheckpointError(f"{source} is damaged: its Low2High metadata is not valid JSON")
    if description.get("output") not in OUTPUTS:
        raise CheckpointError(
            f"{source} is damaged: unknown output kind {description.get('output')!r}"
        )
    return description


def read_onnx_card(path: str | os.PathLike) -> tuple[NetworkConfig, ModelCard, dict]:
    """Read the description of an ONNX model exported by :func:`export_onnx`.

    Only ``onnxruntime`` is needed (not the ``onnx`` package), as in the QGIS plugin.

    Args:
        path: The ``.onnx`` file.

    Returns:
        ``(config, card, description)`` where ``description`` is the whole ``low2high``
        metadata dict, including ``"output"`` ("probabilities" or "logits") and
        ``"input_size"`` ([height, width], or None when the size is dynamic).

    Raises:
        CheckpointError: If the file is missing, not a readable ONNX model, has no Low2High
            metadata, or its description is invalid or made by a newer Low2High.
    """
    return describe_onnx_session(open_onnx_session(path), str(path))


def describe_onnx_session(session: Any, source: str) -> tuple[NetworkConfig, ModelCard, dict]:
    """``(config, card, description)`` of an open session, as :func:`read_onnx_card` returns them."""
    description = _read_description(session, source)
    config, card = parse_description(description, expected_format=ONNX_FORMAT, source=source)
    check_graph_matches(session, card, description, source)
    return config, card, description


def _dimension(shape: Sequence[Any], axis: int) -> Optional[int]:
    """A fixed size of a graph tensor's axis (None when it is dynamic, named, or missing)."""
    value = shape[axis] if len(shape) > axis else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def check_graph_matches(session: Any, card: ModelCard, description: dict[str, Any], source: str) -> None:
    """Refuse a graph whose input bands, output classes or tile size disagree with its card.

    The metadata is text anyone can edit (or another tool can write): a graph taking 3 bands under
    a 4-band card would otherwise fail mid-run in ONNX Runtime or in a numpy broadcast.

    Raises:
        CheckpointError: naming what the graph and the description each say.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    advice = ("the file's metadata does not describe its network; export it again from its checkpoint "
              "(python -m low2high.train export)")
    if len(inputs) != 1 or len(outputs) != 1:
        raise CheckpointError(f"{source} has {len(inputs)} inputs and {len(outputs)} outputs, but a Low2High model has "
                              f"one of each; {advice}")
    input_shape, output_shape = list(inputs[0].shape or ()), list(outputs[0].shape or ())
    if len(input_shape) != 4 or len(output_shape) != 4:
        raise CheckpointError(f"{source} takes {input_shape} and gives {output_shape}, not (batch, bands, height, "
                              f"width) images; {advice}")
    bands, classes = _dimension(input_shape, 1), _dimension(output_shape, 1)
    if bands is not None and bands != len(card.band_names):
        raise CheckpointError(f"{source}: its network takes {bands} input bands but its description says "
                              f"{len(card.band_names)} ({', '.join(card.band_names)}); {advice}")
    if classes is not None and classes != len(card.class_names):
        raise CheckpointError(f"{source}: its network gives {classes} classes but its description says "
                              f"{len(card.class_names)} ({', '.join(card.class_names)}); {advice}")
    size = description.get("input_size")
    graph_size = [_dimension(input_shape, 2), _dimension(input_shape, 3)]
    if size and None not in graph_size and list(size) != graph_size:
        raise CheckpointError(f"{source}: its network takes {graph_size[0]} × {graph_size[1]} tiles but its "
                              f"description says {size[0]} × {size[1]}; {advice}")
