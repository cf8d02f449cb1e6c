"""The input statistics of a segment run: the card's, the classified region's own, or half of each
(INPUT_STATISTICS).

A new flight, sensor or season shifts every band's gain and offset; standardising the image by its
own per-band mean and std undoes that before the network sees it (``image``), and so does half of it
(``blend``, what the bundled demo's card asks ``auto`` for), which also keeps half of what the
region's own class mix moves (core.contract.BLEND_WEIGHT). The statistics are measured
once, over the region being classified (EXTENT and MASK honoured, nodata left out), before any
tile is read, and the same numbers standardise every tile, so the map has no seams. Large regions
are sampled: a regular grid of full-resolution windows, never more than :data:`SAMPLE_PIXELS`.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ...core.contract import fed_statistics, statistics_source, tile_statistics
from ...core.errors import Low2HighError
from ...core.progress import Progress, check_canceled
from ..geo.grid import Window
from ..geo.mask import PolygonMask
from ..geo.raster_io import RasterSource
from .model import Model

SAMPLE_PIXELS = 4_000_000
"""Pixels read at most to measure a region's statistics (about 1 s of reading; the mean and std of
4 M pixels spread over the region are within a grey level of the whole region's)."""
NO_DATA_TO_CLASSIFY = ("The input holds no data to classify in the chosen area: every pixel is nodata (or outside "
                       "MASK).")
"""One sentence for an area without data, whether the statistics sampler or the tiles find it first."""
SAMPLE_WINDOW = 256
"""Side of each sampled window (whole GDAL blocks of a tiled GeoTIFF, read at full resolution)."""


def sample_windows(region: Window, budget: int = SAMPLE_PIXELS, side: int = SAMPLE_WINDOW) -> list[Window]:
    """Windows covering ``region`` entirely when it fits the budget, else a regular grid of ``side`` squares.

    The grid is spread evenly from edge to edge, so every part of the region is represented.
    """
    if region.size <= budget:
        rows = range(region.row, region.row + region.height, side)
        cols = range(region.col, region.col + region.width, side)
        return [Window(col, row, min(side, region.col_end - col), min(side, region.row + region.height - row))
                for row in rows for col in cols]
    count = max(1, budget // (side * side))
    across = max(1, round(math.sqrt(count * region.width / region.height)))
    down = max(1, count // across)
    width, height = min(side, region.width), min(side, region.height)
    spread_cols = np.linspace(region.col, region.col + region.width - width, across).round().astype(int)
    spread_rows = np.linspace(region.row, region.row + region.height - height, down).round().astype(int)
    return [Window(int(col), int(row), width, height) for row in spread_rows for col in spread_cols]


def region_statistics(source_path: str, region: Window, mask: Optional[PolygonMask], progress: Progress,
                      budget: int = SAMPLE_PIXELS, asked: str = "image") -> tuple[list[float], list[float], int]:
    """Per-band mean and std of pixel / 255 over the region's valid pixels (a sample when it is large).

    Returns:
        (mean, std, pixels measured).

    Raises:
        Low2HighError: no pixel of the region holds data (all nodata, or outside MASK).
    """
    source = RasterSource.open(source_path, require_crs=False)
    parts, measured = [], 0
    for window in sample_windows(region, budget):
        check_canceled(progress)
        pixels = source.read(window)
        valid = source.valid_mask(window, pixels)
        if mask is not None:
            valid &= mask.rasterize(source.grid, window)
        parts.append(pixels[:, valid])  # (bands, N)
        measured += int(valid.sum())
    if measured == 0:
        raise Low2HighError(f"{NO_DATA_TO_CLASSIFY} INPUT_STATISTICS {asked} measures the image there, so there "
                            "is nothing to measure either: check the extent, the mask and the raster's nodata "
                            "value.")
    mean, std = tile_statistics(np.concatenate(parts, axis=1), None)
    return mean.tolist(), std.tolist(), measured


def with_input_statistics(model: Model, requested: str, source_path: str, region: Window,
                          mask: Optional[PolygonMask], progress: Progress) -> Model:
    """``model`` as the run will feed it: the card's statistics, or the region's own (logged), set
    once, before any predictor is made.

    Raises:
        Low2HighError: an unknown INPUT_STATISTICS, or a region without data when its statistics are asked for.
    """
    info = model.info
    try:
        source = statistics_source(requested, info.standardisation, info.input_statistics)
    except ValueError as error:
        raise Low2HighError(f"{error}.") from None
    card_says = (f"standardisation being '{info.standardisation}'" if info.standardisation == "tile"
                 else f"input_statistics being '{info.input_statistics}'")
    why = f"INPUT_STATISTICS {requested}" + (f", the model card's {card_says}" if requested == "auto" else "")
    if source == "model":
        kind = "each tile's own" if info.standardisation == "tile" else "the model card's"
        progress.info(f"Input statistics: {kind} ({why}).")
        return model
    mean, std, measured = region_statistics(source_path, region, mask, progress, asked=requested)
    if info.standardisation == "tile":
        why += "; they replace the card's per-tile statistics, so every tile is standardised alike (no seams)"
    own = f"mean {_listed(mean)}, std {_listed(std)}"
    mean, std = fed_statistics(source, info.mean, info.std, mean, std, measured)
    if source == "blend":
        progress.info(f"Input statistics: half the model card's, half the image's own measured on {measured:,} "
                      f"pixels ({why}): mean {_listed(mean)}, std {_listed(std)} (pixel / 255; the image's {own}; "
                      f"the card's mean {_listed(info.mean)}, std {_listed(info.std)}).")
    else:
        progress.info(f"Input statistics: the image's own, measured on {measured:,} pixels ({why}): {own} "
                      f"(pixel / 255; the card's: mean {_listed(info.mean)}).")
    return model.fed(mean, std, "dataset")


def _listed(values) -> str:
    return "/".join(f"{value:.3f}" for value in values)
