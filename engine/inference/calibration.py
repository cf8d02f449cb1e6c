"""Calibration tiles from the user's raster, and class agreement between two precisions.

int8 activation ranges, the agreement check and ``auto``'s speed trial all use the same few
tiles of the image being classified, spread over the region and prepared as classification
prepares its tiles (:func:`.tile_input.network_input`), so they see what inference will see.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..geo.grid import Window
from ..geo.raster_io import RasterSource
from .model_info import ModelInfo
from .tile_input import network_input, pad_tile
from .tiling import SIZE_MULTIPLE, round_up

#: Calibration tiles and their side: 8 tiles of 512 px held int8 within 1 % of fp32 in the
#: measurements behind this module, and cost about 2 s of fp32 compute on two cores.
CALIBRATION_TILES = 8
CALIBRATION_SIDE = 512
#: A tile is used only if at least this share of its pixels hold data.
MIN_VALID_SHARE = 0.5


@dataclass
class CalibrationSet:
    """Normalised tiles and where each holds data."""

    tiles: list[np.ndarray]  # (bands, side, side) float32
    valid: list[np.ndarray]  # (side, side) bool

    @property
    def megapixels(self) -> float:
        return sum(tile.shape[-1] * tile.shape[-2] for tile in self.tiles) / 1e6


def calibration_tiles(source_path: str, region: Window, info: ModelInfo, count: int = CALIBRATION_TILES,
                      side: Optional[int] = None) -> CalibrationSet:
    """Up to ``count`` tiles spread evenly over ``region``, skipping tiles mostly without data.

    Tiles are ``side`` pixels (default: the model's fixed tile size, else :data:`CALIBRATION_SIDE`).
    A region smaller than that gives one tile of the region, padded to a multiple of 32 (to the
    fixed size for a model that only takes that size). Twice as many places as needed are looked
    at, so holes and nodata margins are stepped over.
    """
    source = RasterSource.open(source_path, require_crs=False)
    side = side or info.fixed_tile_size or CALIBRATION_SIDE
    height, width = min(side, round_up(region.height, SIZE_MULTIPLE)), min(side, round_up(region.width, SIZE_MULTIPLE))
    if info.fixed_tile_size:
        height = width = side
    tiles, valid_masks = [], []
    for row, col in _places(region, height, width, 2 * count):
        place = Window(region.col + col, region.row + row, min(width, region.width), min(height, region.height))
        window = place.intersection(source.grid.full_window)
        if window is None:
            continue
        pixels = source.read(window)
        valid = source.valid_mask(window, pixels)
        if valid.sum() < MIN_VALID_SHARE * min(width * height, region.size):
            continue
        tiles.append(network_input(pixels, valid, info, height, width))
        valid_masks.append(pad_tile(valid, height, width))
        if len(tiles) == count:
            break
    return CalibrationSet(tiles, valid_masks)


def _places(region: Window, height: int, width: int, wanted: int) -> list[tuple[int, int]]:
    """Top-left corners of about ``wanted`` tiles on an even grid over the region, interleaved
    so that the first ``wanted / 2`` are already spread over the whole region."""
    rows = max(1, round(math.sqrt(wanted * region.height / max(region.width, 1))))
    cols = max(1, math.ceil(wanted / rows))
    row_starts = np.linspace(0, max(region.height - height, 0), rows).round().astype(int)
    col_starts = np.linspace(0, max(region.width - width, 0), cols).round().astype(int)
    grid = [(int(r), int(c)) for r in row_starts for c in col_starts]
    return grid[::2] + grid[1::2]


def class_agreement(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray],
                    valid: Optional[Sequence[np.ndarray]] = None) -> float:
    """Share of (valid) pixels whose most probable class is the same in both predictions.

    Args:
        reference: per tile, (classes, H, W) probabilities or logits of the reference (fp32).
        candidate: the same tiles from the precision being judged.
        valid: per tile, (H, W) bool pixels that count; None: all.
    """
    same = total = 0
    for index, (expected, actual) in enumerate(zip(reference, candidate)):
        equal = expected.argmax(axis=0) == actual.argmax(axis=0)
        if valid is not None:
            equal = equal[valid[index]]
        same += int(equal.sum())
        total += int(equal.size)
    return same / total if total else 1.0
