"""Fit the image's class colours (:mod:`.colour_refinement`) on a sample of the planned tiles.

:func:`fit_region_colours` classifies tiles spread evenly over the region (all of them when it is
small), each region pixel counted once (overlaps split at their middle), and fits the colour model
once; the tiled pass then refines every blended block with it (:func:`.pipeline.run_tiled_inference`),
so thresholds, the probability output and the minimum mapping unit work on the refined map.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.errors import Low2HighError
from ...core.progress import Progress, check_canceled
from ..geo.mask import PolygonMask
from ..geo.raster_io import RasterSource
from ..labels.colour_refinement import SAMPLE_PIXELS, SAMPLE_STRIDE, ColourFit, ColourModel, refinement_wanted
from .pipeline import read_tile
from .predictor import Predictor
from .tiling import Tile, TileLayout


def fit_region_colours(predictor: Predictor, requested: str, source_path: str, layout: TileLayout,
                       mask: Optional[PolygonMask], progress: Progress) -> Optional[ColourModel]:
    """This region's class colours when COLOUR_REFINEMENT (or the card) asks for a refinement, else None.

    Raises:
        Low2HighError: an unknown COLOUR_REFINEMENT.
    """
    info = predictor.info
    try:
        wanted = refinement_wanted(requested, info.colour_refinement)
    except ValueError as error:
        raise Low2HighError(f"{error}.") from None
    if not wanted:
        return None
    if info.binary or info.standardisation == "tile":
        why = ("a one-class (sigmoid) model has no classes to tell apart by colour" if info.binary else
               "the model standardises each tile by its own statistics, so one colour model would not fit every tile "
               "(INPUT_STATISTICS image or auto gives it the region's)")
        progress.warn(f"Colour refinement skipped: {why}.")
        return None
    sample = sample_tiles(layout)
    progress.info(f"Colour refinement: fitting this image's class colours on {len(sample)} of {layout.count} tiles.")
    fit = ColourFit(info.num_classes)
    source = RasterSource.open(source_path, require_crs=False)
    with predictor.running():
        for tile in sample:
            check_canceled(progress)
            tile_input, valid = read_tile(source, tile, layout, info, mask)
            if tile_input is None:
                continue
            probabilities = predictor.predict(tile_input[None])[0]
            fit.add(probabilities, tile_input, valid & owned_pixels(layout, tile), SAMPLE_STRIDE)
    colours = fit.fit()
    if colours is None:
        progress.warn("Colour refinement skipped: the model is sure of no class in this image, so there are no "
                      "class colours to learn; the map is the model's own.")
        return None
    fitted = ", ".join(f"{name} {count:,}" for name, count in zip(info.class_names, colours.pixels) if count)
    missing = [name for name, count in zip(info.class_names, colours.pixels) if not count]
    progress.info(f"Colour refinement: class colours from the model's surest pixels ({fitted})"
                  + (f"; too few for {', '.join(missing)}, which the refined map leaves out" if missing else "")
                  + ".")
    return colours


def sample_tiles(layout: TileLayout, budget: int = SAMPLE_PIXELS) -> list[Tile]:
    """Tiles spread evenly over the layout (in its order), at most ``budget`` tile pixels; all when they fit."""
    tiles = list(layout.tiles())
    wanted = max(1, budget // (layout.tile_height * layout.tile_width))
    if len(tiles) <= wanted:
        return tiles
    picks = np.linspace(0, len(tiles) - 1, wanted).round().astype(int)
    return [tiles[index] for index in sorted(set(picks.tolist()))]


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
