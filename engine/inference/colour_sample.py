"""Fit the image's class colours (:mod:`~low2high.engine.labels.colour_refinement`) on a sample of the region.

:func:`fit_region_colours` classifies a sample and fits the colour model once; the tiled pass then
refines every pass's probabilities with it before they are blended (:func:`.pipeline.run_tiled_inference`),
so thresholds, the probability output and the minimum mapping unit work on the refined map. A region that fits the
sample budget is sampled whole, tile by tile as the pass will classify it, each pixel once
(overlaps split at their middle), so a tiled run fits what a single pass would. A larger one is
sampled in many small windows spread evenly from edge to edge (as INPUT_STATISTICS ``image``
samples it), not in a few whole tiles: a class found in one corner only (a lake) must reach the
sample, or it would get no colour and drop out of the map. Each window is classified with a
margin of context around the part that is fitted. The sampled passes run as many at once as the
tiled pass does.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

import numpy as np

from ...core.progress import Progress, check_canceled
from ..geo.grid import Window
from ..geo.mask import PolygonMask
from ..geo.raster_io import RasterSource
from ..labels.colour_refinement import (
    SAMPLE_PIXELS,
    SAMPLE_STRIDE,
    ColourFit,
    ColourModel,
    refinement_applies,
    refinement_wanted,
)
from .model_info import ModelInfo
from .pipeline import read_tile
from .predictor import Predictor
from .statistics import sample_windows
from .tile_input import network_input, pad_tile
from .tiling import Tile, TileLayout

WINDOW_SIDE = 384
"""Side of a sampled window of a large region (a multiple of 32), classified whole."""
WINDOW_MARGIN = 64
"""Context kept out of the fit on each side of a sampled window (the network sees less there)."""


def fit_region_colours(predictor: Predictor, requested: str, source_path: str, layout: TileLayout,
                       mask: Optional[PolygonMask], progress: Progress) -> Optional[ColourModel]:
    """This region's class colours when COLOUR_REFINEMENT (or the card) asks for a refinement, else None.

    Raises:
        Low2HighError: an unknown COLOUR_REFINEMENT.
    """
    info = predictor.info
    if not refinement_wanted(requested, info.colour_refinement):
        return None
    if info.binary or not refinement_applies(requested, info.colour_refinement, info.standardisation):
        why = ("a one-class (sigmoid) model has no classes to tell apart by colour" if info.binary else
               "the model standardises each tile by its own statistics, so one colour model would not fit every tile "
               "(INPUT_STATISTICS image or auto gives it the region's)")
        progress.warn(f"Colour refinement skipped: {why}.")
        return None
    source = RasterSource.open(source_path, require_crs=False)
    whole = layout.count * layout.tile_height * layout.tile_width <= SAMPLE_PIXELS
    pieces = _tile_pieces(source, layout, info, mask) if whole else _window_pieces(source, layout.region, info, mask)
    where = (f"every one of the {layout.count} tiles" if whole else
             f"{len(sample_windows_of(layout.region))} windows of {WINDOW_SIDE} px spread over the region")
    progress.info(f"Colour refinement: fitting this image's class colours on {where}.")
    fit = ColourFit(info.num_classes)
    streams = max(1, predictor.streams)
    with predictor.running(), ThreadPoolExecutor(streams, "low2high-colours") as passes:
        pending: list = []
        for network_input_, fit_mask in pieces:
            check_canceled(progress)
            pending.append((passes.submit(predictor.predict, network_input_[None]), network_input_, fit_mask))
            if len(pending) >= streams:
                _add(fit, *pending.pop(0))
        for item in pending:
            _add(fit, *item)
    colours = fit.fit(whole_image=whole)
    if colours is None:
        progress.warn("Colour refinement skipped: the model is sure of no class in this image, so there are no "
                      "class colours to learn; the map is the model's own.")
        return None
    fitted = ", ".join(f"{name} {count:,}" for name, count in zip(info.class_names, colours.pixels) if count)
    missing = [name for name, count in zip(info.class_names, colours.pixels) if not count]
    fate = ("which the refined map leaves out (the model is sure of them nowhere here)" if whole else
            "which keep the model's own say (the sample may have missed where they are)")
    progress.info(f"Colour refinement: class colours from the model's surest pixels ({fitted})"
                  + (f"; too few for {', '.join(missing)}, {fate}" if missing else "") + ".")
    return colours


def _add(fit: ColourFit, future, network_input_: np.ndarray, fitted: np.ndarray) -> None:
    fit.add(future.result()[0], network_input_, fitted, SAMPLE_STRIDE)


def _tile_pieces(source: RasterSource, layout: TileLayout, info: ModelInfo,
                 mask: Optional[PolygonMask]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(network input, pixels to fit) of every planned tile that holds data."""
    for tile in layout.tiles():
        tile_input, valid = read_tile(source, tile, layout, info, mask)
        if tile_input is not None:
            yield tile_input, valid & owned_pixels(layout, tile)


def sample_windows_of(region: Window) -> list[Window]:
    """The windows a region too large to sample whole is sampled in."""
    return sample_windows(region, SAMPLE_PIXELS, WINDOW_SIDE)


def _window_pieces(source: RasterSource, region: Window, info: ModelInfo,
                   mask: Optional[PolygonMask]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(network input, pixels to fit: the window less its margin) of sampled windows that hold data."""
    for window in sample_windows_of(region):
        pixels = source.read(window)
        valid = source.valid_mask(window, pixels)
        if mask is not None:
            valid &= mask.rasterize(source.grid, window)
        if not valid.any():
            continue
        fitted = pad_tile(valid, WINDOW_SIDE, WINDOW_SIDE).copy()  # False where padded; valid feeds the input below
        fitted[:WINDOW_MARGIN] = fitted[-WINDOW_MARGIN:] = False
        fitted[:, :WINDOW_MARGIN] = fitted[:, -WINDOW_MARGIN:] = False
        yield network_input(pixels, valid, info, WINDOW_SIDE, WINDOW_SIDE), fitted


def owned_pixels(layout: TileLayout, tile: Tile) -> np.ndarray:
    """(tile_height, tile_width) bool: the tile's share of the region, overlaps split at their middle.

    Each region pixel enters the fit once, whatever the tiling, so a tiled run fits the colours a
    single pass would (up to the network's own edge effects).
    """
    def span(starts: tuple[int, ...], index: int, side: int) -> slice:
        start = starts[index]
        low = 0 if index == 0 else (starts[index - 1] + side + start) // 2 - start
        high = side if index == len(starts) - 1 else (start + side + starts[index + 1]) // 2 - start
        return slice(low, high)

    owned = np.zeros((layout.tile_height, layout.tile_width), bool)
    owned[span(layout.row_starts, tile.row_index, layout.tile_height),
          span(layout.col_starts, tile.col_index, layout.tile_width)] = True
    return owned
