"""Classify at the model's ground sample distance: the image brought to it, the maps brought back.

A model sees objects at the scale it was trained at; a raster whose pixels differ by more than
:data:`~low2high.engine.geo.resample.GSD_TOLERANCE` is read through a warped view at the
model's pixel size, the maps are written at that size into scratch rasters, and when the
classification succeeds they are warped onto the raster's own grid (classes by nearest
neighbour, probabilities bilinearly). Both directions live here, so segment decides once.
"""
from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from ...core.progress import Progress
from ..geo.grid import Grid, Window
from ..geo.raster_io import scratch_raster
from ..geo.resample import GSD_TOLERANCE, ground_sample_distance, resampled_view, warp_onto
from .model_info import ModelInfo


@dataclass(frozen=True)
class ModelGsdView:
    """What to classify and where to write it, at the model's pixel size."""

    source_path: str  # the image to read (the input, or a warped view of it)
    grid: Grid  # its grid
    region: Window  # the pixels of ``grid`` to classify
    classes_path: str  # where the class map goes (the output, or a scratch raster warped back)
    probabilities_path: Optional[str]
    resampled: bool  # the maps are warped back: their class counts are those of the output, not of the run


@contextmanager
def at_model_gsd(input_path: str, grid: Grid, region: Window, info: ModelInfo, classes_path: str,
                 probabilities_path: Optional[str], progress: Progress) -> Iterator[ModelGsdView]:
    """The view to classify ``region`` of ``grid`` at the model's pixel size; on leaving the block
    without an error, maps written at another size are warped onto the outputs."""
    gsd = ground_sample_distance(grid)
    mismatch = abs(gsd / info.gsd - 1) if info.resolution_known else 0.0  # unknown: the raster's own pixels
    if mismatch <= GSD_TOLERANCE:
        yield ModelGsdView(input_path, grid, region, classes_path, probabilities_path, resampled=False)
        return
    progress.warn(f"The raster's pixels are {gsd:.3g} m but the model was trained at {info.gsd:.3g} m; "
                  f"the image is resampled to {info.gsd:.3g} m for the model and the map back to {gsd:.3g} m.")
    with ExitStack() as stack:
        source_path, model_grid, model_region = stack.enter_context(resampled_view(input_path, grid, region, info.gsd))
        folder = os.path.dirname(classes_path)
        coarse_classes = stack.enter_context(scratch_raster(folder, "classes-at-model-gsd"))
        coarse_probabilities = None
        if probabilities_path:
            coarse_probabilities = stack.enter_context(scratch_raster(folder, "probabilities-at-model-gsd"))
        yield ModelGsdView(source_path, model_grid, model_region, coarse_classes, coarse_probabilities, resampled=True)
        target = grid.subgrid(region)
        warp_onto(coarse_classes, classes_path, target, "near")
        if probabilities_path and coarse_probabilities:
            warp_onto(coarse_probabilities, probabilities_path, target, "bilinear")
