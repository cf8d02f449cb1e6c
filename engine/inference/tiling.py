"""Where the tiles of a tiled inference lie, and how much each tile's pixels count.

Tiles of at most ``tile_size`` overlap by at least ``overlap`` pixels and are spread evenly so the
last one ends on the region's edge (no tile hangs over it, except when the region is smaller than
one tile; then one tile, padded to a multiple of 32, covers it). Tiles shrink to the smallest side
that needs no more of them, so little work is spent twice on overlaps. Each tile's predictions are weighted
by a cubic ramp that falls to almost zero toward the edges it shares with a neighbour: pixels near
a tile border, where the network saw little context, count little, and seams disappear.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Optional

import numpy as np

from ...core.errors import Low2HighError
from ..geo.grid import Window

#: The network halves the resolution five times: tile sides must be multiples of 32.
SIZE_MULTIPLE = 32
#: Least weight of a pixel near a shared edge (not zero, so every pixel keeps some weight).
MIN_WEIGHT = 1e-6
#: Default tiles compute at most this many pixels per raster pixel (overlaps and padding).
MAX_OVERHEAD = 1.15


def round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def axis_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one axis: as few as cover ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile - overlap)) + 1
    return [round(k * (length - tile) / (count - 1)) for k in range(count)]


def fitted_tile_side(length: int, tile: int, overlap: int) -> int:
    """The tile side (multiple of 32, at most ``tile``) that covers ``length`` with least work.

    Full-size tiles spread over a length that is not ``tile + k * (tile - overlap)`` overlap far
    more than asked (8192 px in 1024-px tiles: 9 tiles overlapping by 128 px, 21 % of the work
    wasted). For a few tile counts from the fewest possible, the smallest side that still covers
    the length with ``overlap`` is found; the count × side with least pixels wins.
    """
    if length <= tile:
        return round_up(length, SIZE_MULTIPLE)
    fewest = math.ceil((length - overlap) / (tile - overlap))
    candidates = []
    for count in range(fewest, fewest + 4):
        side = round_up(math.ceil((length + (count - 1) * overlap) / count), SIZE_MULTIPLE)
        if side <= tile and len(axis_starts(length, side, overlap)) == count:
            candidates.append((count * side, -side))
    return -min(candidates)[1]


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the tile grid and its pixels (region coordinates, may be padded)."""

    row_index: int
    col_index: int
    window: Window


@dataclass(frozen=True)
class TileLayout:
    """The tiles covering ``region`` (a window of the raster), in row-major order."""

    region: Window
    tile_height: int
    tile_width: int
    overlap: int
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]

    @classmethod
    def plan(cls, region: Window, tile_size: int, overlap: int, fixed_size: bool = False) -> "TileLayout":
        """Lay out tiles of ``tile_size`` over ``region``.

        Args:
            region: the pixels to cover.
            tile_size: tile side in pixels, a multiple of 32.
            overlap: pixels shared by neighbouring tiles, at most half the tile.
            fixed_size: the model only takes ``tile_size`` tiles (a fixed-shape ONNX model), so a
                region smaller than a tile is padded up to it rather than to a multiple of 32.
        """
        if tile_size < SIZE_MULTIPLE or tile_size % SIZE_MULTIPLE:
            raise Low2HighError(f"TILE_SIZE must be a multiple of {SIZE_MULTIPLE} pixels (got {tile_size}).")
        if overlap < 0 or 2 * overlap > tile_size:
            raise Low2HighError(f"OVERLAP must be between 0 and half of TILE_SIZE ({tile_size // 2}); got {overlap}.")

        def side(length: int) -> int:
            if fixed_size:
                return tile_size
            return fitted_tile_side(length, tile_size, overlap)

        height, width = side(region.height), side(region.width)
        return cls(region, height, width, overlap,
                   tuple(axis_starts(region.height, height, overlap)),
                   tuple(axis_starts(region.width, width, overlap)))

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.row_starts), len(self.col_starts)

    @property
    def overhead(self) -> float:
        """Pixels the model computes per pixel of the region (1.0: no overlap, no padding)."""
        return self.count * self.tile_height * self.tile_width / max(self.region.size, 1)

    def describe(self) -> str:
        """What the tiler really does, in one line: tile size, stride, the overlap tiles share."""
        rows, cols = self.shape
        text = f"{self.count} tiles ({rows} × {cols}) of {self.tile_width} × {self.tile_height} px"
        strides = sorted({b - a for starts in (self.row_starts, self.col_starts) for a, b in zip(starts, starts[1:])})
        if strides:
            shared = sorted({side - stride for side, starts in ((self.tile_height, self.row_starts),
                                                                  (self.tile_width, self.col_starts))
                             for stride in (b - a for a, b in zip(starts, starts[1:]))})
            text += (f", stride {_span(strides)} px, neighbours share {_span(shared)} px "
                     f"(asked: at least {self.overlap})")
        else:
            text += " (one tile: no overlap)"
        return text + f"; the model computes {self.overhead:.2f} × the region's pixels"

    @property
    def count(self) -> int:
        return len(self.row_starts) * len(self.col_starts)

    def tiles(self) -> Iterator[Tile]:
        for i, row in enumerate(self.row_starts):
            for j, col in enumerate(self.col_starts):
                yield Tile(i, j, Window(col, row, self.tile_width, self.tile_height))

    def weights(self, tile: Tile) -> np.ndarray:
        """(tile_height, tile_width) float32 blending weight of one tile."""
        rows, cols = self.shape
        vertical = _ramp(self.tile_height, self.overlap, tile.row_index > 0, tile.row_index < rows - 1)
        horizontal = _ramp(self.tile_width, self.overlap, tile.col_index > 0, tile.col_index < cols - 1)
        return np.outer(vertical, horizontal)


def _span(values: list[int]) -> str:
    return f"{values[0]}" if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def default_tile_side(region: Window, overlap: int, smallest: int, largest: int) -> int:
    """The smallest tile side (multiple of 32, from ``smallest`` to ``largest``) whose layout over
    ``region`` computes at most :data:`MAX_OVERHEAD` × its pixels; the least wasteful side up to
    ``largest`` when none does. Small tiles hold less memory; beyond the overhead bound larger
    ones barely speed the model up (measured: same Mpx/s at 512 and 1024 px with int8)."""
    smallest = max(round_up(smallest, SIZE_MULTIPLE), round_up(2 * overlap + SIZE_MULTIPLE, SIZE_MULTIPLE))
    largest = max(smallest, largest - largest % SIZE_MULTIPLE)
    best = None
    for side in range(smallest, largest + 1, SIZE_MULTIPLE):
        layout = TileLayout.plan(region, side, overlap)
        if layout.overhead <= MAX_OVERHEAD:
            return side
        if best is None or layout.overhead < best[0] - 1e-9:
            best = (layout.overhead, side)
        if layout.count == 1:
            break
    return best[1] if best else smallest


@lru_cache(maxsize=64)
def _ramp(length: int, overlap: int, falls_at_start: bool, falls_at_end: bool) -> np.ndarray:
    """1-D weight: 1 inside, falling as a cubic over ``overlap`` pixels toward shared edges.

    Cubic, not linear: near its border a tile's predictions are both worse (little context) and
    confident, and with a linear ramp they still flipped near-ties: against a single pass over
    the whole raster, disagreements were 10-20 times more frequent along seams than elsewhere
    (demo model, 512-px tiles, overlap 64-128); with the cubic they are not.
    """
    ramp = np.ones(length, np.float32)
    if overlap == 0:
        return ramp
    linear = np.clip((np.arange(length, dtype=np.float32) + 0.5) / overlap, 0.0, 1.0)
    rising = np.maximum(linear ** 3, MIN_WEIGHT)
    if falls_at_start:
        ramp = np.minimum(ramp, rising)
    if falls_at_end:
        ramp = np.minimum(ramp, rising[::-1])
    ramp.flags.writeable = False
    return ramp


def tile_read_window(tile: Tile, region: Window, raster: Window) -> Optional[Window]:
    """The raster pixels a tile reads (absolute coordinates); None if it lies outside."""
    absolute = Window(region.col + tile.window.col, region.row + tile.window.row, tile.window.width, tile.window.height)
    return absolute.intersection(raster)
