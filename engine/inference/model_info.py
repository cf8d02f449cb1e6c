"""What a model file says about itself, as the engine uses it: :class:`ModelInfo`.

Read once, when :mod:`.model` opens the file (a checkpoint's card, a Low2High export's
description, or a Deepness model's metadata); every later stage (bands, statistics, planning,
the pipeline) reads this record instead of the file.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional

from ...core.errors import Low2HighError


@dataclass(frozen=True)
class ModelInfo:
    """What the engine needs to know about a model (from its self-describing file)."""

    path: str
    backend: str  # "torch" or "onnx"
    device: str  # "cpu" or "cuda"
    class_names: tuple[str, ...]
    band_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    gsd: float
    tile_size: int
    tile_overlap: int
    fixed_tile_size: Optional[int] = None  # ONNX models exported for one tile size only
    precision: str = "fp32"  # what the model really runs at: fp32, bf16 or int8
    network_width: Optional[int] = None  # U-Net width (64: the paper's), for memory estimates
    standardisation: str = "dataset"  # the card's: "tile" standardises each tile by its own statistics
    threshold: float = 0.0  # the card's probability_threshold: less sure pixels get class 0 (Deepness's seg_thresh)
    binary: bool = False  # one sigmoid map (a Deepness model): class 1 where it reaches the threshold
    resolution_known: bool = True  # False: a Deepness model without 'resolution'; no pixel-size check
    resizable: bool = True  # a fixed-size graph may run through a resizable copy (Low2High exports only)
    notes: tuple[str, ...] = ()  # sentences to warn about when the model is used (missing Deepness metadata)
    min_mapping_unit: float = 0.0  # the card's: smallest patch (m²) kept on the class map by default
    colour_refinement: bool = False  # the card's: sharpen the map with the image's class colours by default
    input_statistics: str = "model"  # the card's: what INPUT_STATISTICS auto feeds a dataset card (CARD_STATISTICS)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_bands(self) -> int:
        return len(self.band_names)

    def describe(self) -> str:
        scale = f"trained at {self.gsd:g} m per pixel" if self.resolution_known else "pixel size not stated"
        threshold = f", class 0 below {self.threshold:g} probability" if self.threshold else ""
        return (f"{os.path.basename(self.path)}: {self.num_bands} bands ({', '.join(self.band_names)}), "
                f"classes {', '.join(self.class_names)}, {scale}{threshold}; "
                f"{self.backend} {self.precision} on {self.device}")


def info_from_card(path: str, backend: str, device: str, card, fixed_tile_size: Optional[int] = None,
                   config=None) -> ModelInfo:
    """The record of a Low2High card (a checkpoint's, or an export's description)."""
    width = getattr(config, "width", None)
    return ModelInfo(path, backend, device, tuple(card.class_names), tuple(card.band_names), tuple(card.mean),
                     tuple(card.std), float(card.gsd), int(card.tile_size), int(card.tile_overlap), fixed_tile_size,
                     network_width=int(width) if width else None, standardisation=card.standardisation,
                     threshold=float(card.probability_threshold),
                     min_mapping_unit=float(getattr(card, "min_mapping_unit", 0.0)),
                     colour_refinement=bool(getattr(card, "colour_refinement", False)),
                     input_statistics=str(getattr(card, "input_statistics", "model")))


def onnx_info(session: Any, shown: str, device: str) -> ModelInfo:
    """What an open ONNX model says about itself: a Low2High export's description, or Deepness's metadata.

    Raises:
        CheckpointError: neither describes the file, or the description is unusable.
    """
    from ...models.card import CheckpointError
    from ...models.onnx_card import METADATA_KEY, describe_onnx_session
    from .deepness import describe_deepness_session, is_deepness_model

    metadata = session.get_modelmeta().custom_metadata_map
    if is_deepness_model(metadata):
        model = describe_deepness_session(session, shown)
        info = info_from_card(shown, "onnx", device, model.card, model.fixed_tile_size)
        return dataclasses.replace(info, binary=model.binary, resolution_known=model.resolution_known,
                                   resizable=False, notes=model.notes)
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{shown} is not a Low2High model nor a Deepness one: it carries neither the Low2High "
                              f"description (ONNX metadata '{METADATA_KEY}') nor Deepness metadata (model_type, "
                              "class_names, ...), so its bands, classes and normalisation are unknown")
    config, card, description = describe_onnx_session(session, shown)
    input_size = description.get("input_size")
    return info_from_card(shown, "onnx", device, card, input_size[0] if input_size else None, config)


def model_error(path: str, error: Exception) -> Low2HighError:
    """A model file's problem as the sentence a user reads."""
    return Low2HighError(f"Cannot use the model '{os.path.basename(path)}': {error}")
