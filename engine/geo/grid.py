"""Pixel grids and windows: the geometry shared by every raster operation.

A :class:`Grid` is where a raster's pixels lie (north-up geotransform, size, CRS); a
:class:`Window` is a rectangle of pixels in it. Both are plain values, free of GDAL, so that
tiling, alignment and extents are computed and tested without touching a file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from ...core.errors import Low2HighError

#: Tolerance, in pixels, under which a coordinate counts as lying on a pixel edge.
EDGE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Window:
    """A rectangle of pixels: ``col``, ``row`` of its top-left pixel and its size."""

    col: int
    row: int
    width: int
    height: int

    @property
    def col_end(self) -> int:
        return self.col + self.width

    @property
    def row_end(self) -> int:
        return self.row + self.height

    @property
    def size(self) -> int:
        return self.width * self.height

    def intersection(self, other: "Window") -> Optional["Window"]:
        """The pixels both windows hold, or None when they do not overlap."""
        col, row = max(self.col, other.col), max(self.row, other.row)
        col_end, row_end = min(self.col_end, other.col_end), min(self.row_end, other.row_end)
        if col_end <= col or row_end <= row:
            return None
        return Window(col, row, col_end - col, row_end - row)


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: GDAL geotransform, size in pixels and CRS (WKT)."""

    geotransform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    crs_wkt: str = ""

    def __post_init__(self) -> None:
        gt = self.geotransform
        if gt[2] != 0 or gt[4] != 0:
            raise Low2HighError(
                "The raster's geotransform is rotated; Low2High needs north-up rasters. "
                "Warp it first (Raster ▸ Projections ▸ Warp)."
            )
        if gt[1] <= 0 or gt[5] >= 0:
            raise Low2HighError("The raster's geotransform is not north-up (pixel size must be positive in x, "
                                "negative in y).")

    @property
    def pixel_width(self) -> float:
        return self.geotransform[1]

    @property
    def pixel_height(self) -> float:
        return -self.geotransform[5]

    @property
    def origin(self) -> tuple[float, float]:
        """(x, y) of the top-left corner of the top-left pixel."""
        return self.geotransform[0], self.geotransform[3]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the whole grid."""
        x0, y0 = self.origin
        return x0, y0 - self.height * self.pixel_height, x0 + self.width * self.pixel_width, y0

    @property
    def full_window(self) -> Window:
        return Window(0, 0, self.width, self.height)

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of a window."""
        x0, y0 = self.origin
        return (
            x0 + window.col * self.pixel_width,
            y0 - window.row_end * self.pixel_height,
            x0 + window.col_end * self.pixel_width,
            y0 - window.row * self.pixel_height,
        )

    def window_for_bounds(self, xmin: float, ymin: float, xmax: float, ymax: float) -> Optional[Window]:
        """The smallest window holding every pixel the box touches, clipped to the grid.

        Returns None when the box and the grid do not overlap (touching edges do not count).
        """
        x0, y0 = self.origin
        col0 = math.floor((xmin - x0) / self.pixel_width + EDGE_TOLERANCE)
        col1 = math.ceil((xmax - x0) / self.pixel_width - EDGE_TOLERANCE)
        row0 = math.floor((y0 - ymax) / self.pixel_height + EDGE_TOLERANCE)
        row1 = math.ceil((y0 - ymin) / self.pixel_height - EDGE_TOLERANCE)
        box = Window(col0, row0, max(0, col1 - col0), max(0, row1 - row0))
        if box.width == 0 or box.height == 0:
            return None
        return box.intersection(self.full_window)

    def subgrid(self, window: Window) -> "Grid":
        """The grid of the pixels inside ``window`` (same pixel size and CRS)."""
        x0, y0 = self.origin
        gt = (x0 + window.col * self.pixel_width, self.pixel_width, 0.0,
              y0 - window.row * self.pixel_height, 0.0, -self.pixel_height)
        return Grid(gt, window.width, window.height, self.crs_wkt)
