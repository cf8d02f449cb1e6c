"""Blend overlapping tile predictions into finished blocks, holding only what is pending.

The region is cut, along each axis, at every tile start and end: the pieces ("cells") are each
covered by a fixed set of tiles. Tiles arrive in row-major order, so a cell is finished as soon
as the last tile covering it has been added; it is then normalised and handed back to be
written, and forgotten. What stays in memory is the current tile and the strip shared with the
next row of tiles (``overlap`` rows of the region's width) — never a classes × H × W array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..geo.grid import Window
from .tiling import Tile, TileLayout


@dataclass(frozen=True)
class _Axis:
    """Cells along one axis: their spans, the first and last tile covering each, the cells of
    each tile."""

    spans: tuple[tuple[int, int], ...]
    first_tile: tuple[int, ...]
    last_tile: tuple[int, ...]
    cells_of_tile: tuple[range, ...]

    @classmethod
    def cut(cls, length: int, starts: tuple[int, ...], tile: int) -> "_Axis":
        ends = [min(start + tile, length) for start in starts]
        edges = sorted(set([0, length, *starts, *ends]))
        spans = tuple(zip(edges[:-1], edges[1:]))
        covering = [[k for k, (s, e) in enumerate(zip(starts, ends)) if s <= a and b <= e] for a, b in spans]
        cells = tuple(range(edges.index(s), edges.index(e)) for s, e in zip(starts, ends))
        return cls(spans, tuple(min(k) for k in covering), tuple(max(k) for k in covering), cells)

    def only_tile(self, cell: int) -> bool:
        """True when a single tile covers the cell (no blending needed there)."""
        return self.first_tile[cell] == self.last_tile[cell]


@dataclass
class BlendedBlock:
    """A finished piece of the output: where it goes, class probabilities, which pixels hold data."""

    window: Window  # region coordinates
    probabilities: np.ndarray  # (C, h, w) float32, summing to 1 where valid
    valid: np.ndarray  # (h, w) bool


class TileBlender:
    """Accumulates weighted tile probabilities and releases finished blocks."""

    def __init__(self, layout: TileLayout, num_classes: int) -> None:
        self.layout = layout
        self.num_classes = num_classes
        self._rows = _Axis.cut(layout.region.height, layout.row_starts, layout.tile_height)
        self._cols = _Axis.cut(layout.region.width, layout.col_starts, layout.tile_width)
        # (row cell, col cell) -> (C + 2, h, w): weighted sums, weight sum, validity
        self._pending: dict[tuple[int, int], np.ndarray] = {}

    @property
    def pending_bytes(self) -> int:
        return sum(buffer.nbytes for buffer in self._pending.values())

    def add(self, tile: Tile, probabilities: Optional[np.ndarray], valid: np.ndarray) -> list[BlendedBlock]:
        """Add one tile (in row-major order) and return the blocks it finished.

        Args:
            tile: the tile, from ``layout.tiles()``.
            probabilities: (C, tile_height, tile_width), or None for a tile that was skipped
                (nothing to predict there: nodata or outside the mask).
            valid: (tile_height, tile_width) bool, pixels that hold data and should be classified.
        """
        classes = self.num_classes
        weights = self.layout.weights(tile) if probabilities is not None else None
        top, left = tile.window.row, tile.window.col
        finished = []
        for r in self._rows.cells_of_tile[tile.row_index]:
            (r0, r1) = self._rows.spans[r]
            for c in self._cols.cells_of_tile[tile.col_index]:
                (c0, c1) = self._cols.spans[c]
                rows, cols = slice(r0 - top, r1 - top), slice(c0 - left, c1 - left)
                window = Window(c0, r0, c1 - c0, r1 - r0)
                if self._rows.only_tile(r) and self._cols.only_tile(c):
                    finished.append(self._alone(window, probabilities, valid, rows, cols))
                    continue
                buffer = self._pending.get((r, c))
                if buffer is None:
                    buffer = self._pending[(r, c)] = np.zeros((classes + 2, r1 - r0, c1 - c0), np.float32)
                if probabilities is not None and weights is not None:
                    weight = weights[rows, cols]
                    buffer[:classes] += probabilities[:, rows, cols] * weight
                    buffer[classes] += weight
                np.maximum(buffer[classes + 1], valid[rows, cols], out=buffer[classes + 1])
                if self._rows.last_tile[r] == tile.row_index and self._cols.last_tile[c] == tile.col_index:
                    finished.append(self._release((r, c), window))
        return finished

    def _alone(self, window: Window, probabilities: Optional[np.ndarray], valid: np.ndarray,
               rows: slice, cols: slice) -> BlendedBlock:
        """A cell only this tile covers: its probabilities as they are, no weighting."""
        if probabilities is None:
            empty = np.zeros((self.num_classes, window.height, window.width), np.float32)
            return BlendedBlock(window, empty, np.zeros((window.height, window.width), bool))
        return BlendedBlock(window, probabilities[:, rows, cols], valid[rows, cols])

    def _release(self, key: tuple[int, int], window: Window) -> BlendedBlock:
        buffer = self._pending.pop(key)
        classes = self.num_classes
        weight = buffer[classes]
        valid = (buffer[classes + 1] > 0) & (weight > 0)
        probabilities = buffer[:classes]
        np.divide(probabilities, weight, out=probabilities, where=weight > 0)
        return BlendedBlock(window, probabilities, valid)
