"""``segment``: classify an image raster of any size with a Low2High model.

This is the whole operation behind the ``low2high:segment`` algorithm, QGIS-free: open the model
once, check the inputs against it, decide the region (EXTENT, MASK), bring the image to the
model's ground sample distance if needed, choose the precision, plan the tiles once, run the tiled
pipeline and publish the outputs atomically. :func:`segment_with` is the same run on a model
opened by the caller, for classifying many rasters with one opening.
"""
from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal

from ...core.contract import INPUT_STATISTICS
from ...core.destinations import RASTER_EXTENSIONS, check_destination
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled
from ...core.publication import Publication
from ...core.signals import cancels_on_termination
from ..geo.band_view import band_view
from ..geo.gdal_scope import with_gdal
from ..geo.grid import Grid, Window
from ..geo.mask import PolygonMask, optional_mask
from ..geo.raster_io import (
    RasterSource,
    create_geotiff,
    stage_raster,
    style_class_raster,
)
from ..labels.classes import NODATA, class_colours
from ..labels.colour_refinement import ColourModel, check_refinement
from ..labels.mapping_unit import sieve_class_raster, unit_in_pixels
from ..labels.rasters import iter_windows
from .bands import choose_bands
from .calibration import calibration_tiles
from .colour_sample import fit_region_colours
from .model import Model, open_model
from .model_gsd import at_model_gsd
from .model_info import ModelInfo
from .pipeline import InferenceStats, run_tiled_inference
from .planning import TilePlan, plan_tiles
from .precision import PRECISIONS
from .predictor import Predictor
from .statistics import NO_DATA_TO_CLASSIFY, with_input_statistics
from .tuning import prepare_predictor


@dataclass
class SegmentRequest:
    """Everything ``segment`` needs; the fields mirror the algorithm's parameters."""

    input_path: str
    output_path: str
    model_path: str = ""  # empty: the bundled demo model
    extent: Optional[tuple[float, float, float, float]] = None  # xmin, ymin, xmax, ymax in the raster's CRS
    mask_wkt: Optional[Sequence[str]] = None  # polygons in the raster's CRS
    tile_size: Optional[int] = None  # None: the model's
    overlap: Optional[int] = None  # None: the model's
    batch_size: Optional[int] = None  # None: by device
    device: str = "auto"
    precision: str = "auto"  # auto, fp32, bf16, int8
    input_statistics: str = "auto"  # auto, image, model (core.contract.INPUT_STATISTICS)
    probabilities_path: Optional[str] = None
    bands: Optional[Sequence[int]] = None  # raster bands feeding the model, 1-based, in its order (None: its first)
    min_mapping_unit: Optional[float] = None  # m²; smaller patches join their largest neighbour (None: the model's)
    colour_refinement: str = "auto"  # auto (the model card's), on, off (colour_refinement.REFINEMENTS)


@dataclass
class SegmentResult:
    output_path: str
    probabilities_path: Optional[str]
    model: ModelInfo
    region: Window
    stats: InferenceStats
    warnings: list[str] = field(default_factory=list)

    @property
    def megapixels(self) -> float:
        return self.region.size / 1e6

    def class_shares(self) -> dict[str, float]:
        """Share of the classified pixels in each class."""
        counts = self.stats.class_counts[: self.model.num_classes]
        total = max(int(counts.sum()), 1)
        return {name: float(count) / total for name, count in zip(self.model.class_names, counts)}


def segment(request: SegmentRequest, progress: Optional[Progress] = None) -> SegmentResult:
    """Classify the input raster into OUTPUT (and optionally OUTPUT_PROBABILITIES).

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix; nothing is written.
        Cancelled: the user cancelled; nothing is written.
    """
    return segment_with(open_model(request.model_path, request.device), request, progress)


@cancels_on_termination("segment")
@with_gdal
def segment_with(model: Model, request: SegmentRequest, progress: Optional[Progress] = None,
                 measure_region: Optional[Window] = None) -> SegmentResult:
    """:func:`segment` with a model already opened (:func:`~.model.open_model`); ``request.model_path``
    and ``request.device`` are not read again.

    ``measure_region``: the pixels of the raster the run measures the image on, instead of the region
    it classifies: its input statistics (INPUT_STATISTICS image or blend) and its class colours
    (segment-many's windows of one raster: the whole raster, so every window is fed and refined
    alike). The colours are fitted on the classified region when the image is resampled for the model.
    """
    progress = progress or SilentProgress()
    started = time.perf_counter()
    inputs = {"INPUT": request.input_path, "MODEL": model.path}
    output = check_destination(request.output_path, "OUTPUT", RASTER_EXTENSIONS, inputs=inputs)
    probabilities_path = check_destination(request.probabilities_path, "OUTPUT_PROBABILITIES", RASTER_EXTENSIONS,
                                           inputs=inputs, outputs={"OUTPUT": output}, required=False)

    if request.precision not in PRECISIONS:
        raise Low2HighError(f"PRECISION must be one of {', '.join(PRECISIONS)} (got '{request.precision}').")
    if request.input_statistics not in INPUT_STATISTICS:
        raise Low2HighError(f"INPUT_STATISTICS must be one of {', '.join(INPUT_STATISTICS)} "
                            f"(got '{request.input_statistics}').")
    check_refinement(request.colour_refinement)
    source = RasterSource.open(request.input_path)
    for note in model.info.notes:  # e.g. what a Deepness model's metadata leaves out, and the defaults used
        progress.warn(note)
    bands = choose_bands(source.band_count, model.info, request.bands, progress)
    _check_byte(source)
    unit = request.min_mapping_unit if request.min_mapping_unit is not None else model.info.min_mapping_unit
    unit_pixels = unit_in_pixels(unit, source.grid.pixel_width * source.grid.pixel_height)

    mask = optional_mask(request.mask_wkt, source.grid.crs_wkt)
    region = _region(source.grid, request.extent, mask)
    progress.info(f"Classifying {region.width} × {region.height} pixels of {os.path.basename(request.input_path)}.")

    with ExitStack() as stack:
        publication = stack.enter_context(Publication(check=lambda: check_canceled(progress)))  # both or none
        final_classes = stage_raster(publication, output)
        final_probabilities = stage_raster(publication, probabilities_path) if probabilities_path else None
        input_path = stack.enter_context(band_view(request.input_path, bands)) if bands else request.input_path
        with at_model_gsd(input_path, source.grid, region, model.info, final_classes, final_probabilities,
                          progress) as view:
            if measure_region is not None:  # on the raster as given (its bands): the same numbers for every window
                fed = with_input_statistics(model, request.input_statistics, input_path, measure_region, mask, progress)
            else:
                fed = with_input_statistics(model, request.input_statistics, view.source_path, view.region, mask,
                                            progress)
            predictor = prepare_predictor(fed, request.precision,
                                          lambda: calibration_tiles(view.source_path, view.region, fed.info), progress)
            info = predictor.info
            progress.info(f"Model {info.describe()}.")
            plan = plan_tiles(view.region, info, request.tile_size, request.overlap, request.batch_size, progress,
                              predictor.streams)
            colour_layout = plan.layout
            if measure_region is not None and not view.resampled:
                colour_layout = plan_tiles(measure_region, info, request.tile_size, request.overlap,
                                           request.batch_size, SilentProgress(), predictor.streams).layout
            colours = fit_region_colours(predictor, request.colour_refinement, view.source_path, colour_layout, mask,
                                         progress)
            stats = _classify(view.source_path, view.grid, predictor, plan, mask, view.classes_path,
                              view.probabilities_path, progress, colours)
        if unit_pixels > 1:  # on the merged map: where the tiles fell does not matter
            sieve_class_raster(final_classes, unit_pixels, progress)
        if view.resampled or unit_pixels > 1:  # the map on disk is not the one the pipeline counted
            stats.class_counts = _class_counts(final_classes)
        for path in filter(None, (final_classes, final_probabilities)):
            _style_outputs(path, info, is_probabilities=path == final_probabilities)
    stats.seconds = time.perf_counter() - started
    result = SegmentResult(output, probabilities_path, info, region, stats,
                           warnings=list(getattr(progress, "warnings", [])))
    shares = ", ".join(f"{name} {share:.1%}" for name, share in result.class_shares().items())
    rate = result.megapixels / max(stats.seconds, 1e-9)
    progress.info(f"Done in {stats.seconds:.1f} s ({rate:.2f} Mpx/s): {shares}.")
    return result


def _check_byte(source: RasterSource) -> None:
    """8-bit imagery only: every model's normalisation divides by 255 (the band count: :func:`choose_bands`)."""
    if source.data_type_name != "Byte":
        raise Low2HighError(
            f"The model expects 8-bit imagery (values 0–255, as NAIP) but the input raster is {source.data_type_name}. "
            "Rescale it to Byte first (Raster ▸ Conversion ▸ Translate with 'Output data type' Byte and scaling)."
        )


def _region(grid: Grid, extent: Optional[tuple[float, float, float, float]], mask: Optional[PolygonMask]) -> Window:
    """The pixels to classify: the raster, cut to EXTENT and to the MASK polygons' bounds."""
    region: Optional[Window] = grid.full_window
    if extent is not None:
        region = grid.window_for_bounds(*extent)
        if region is None:
            raise Low2HighError("EXTENT lies outside the input raster: there is nothing to classify. "
                                "Check the extent and its CRS.")
    if mask is not None:
        covered = grid.window_for_bounds(*mask.bounds)
        region = covered.intersection(region) if covered and region else None
        if region is None:
            raise Low2HighError("The MASK polygons lie outside the input raster (or outside EXTENT): "
                                "there is nothing to classify. Check the layer and its CRS.")
    assert region is not None  # every way to None above raised
    return region


def _classify(source_path: str, grid: Grid, predictor: Predictor, plan: TilePlan, mask: Optional[PolygonMask],
              classes_path: str, probabilities_path: Optional[str], progress: Progress,
              colours: Optional[ColourModel] = None) -> InferenceStats:
    """Run the tiled pipeline over the planned region of ``grid`` into fresh output files."""
    info = predictor.info
    out_grid = grid.subgrid(plan.layout.region)
    classes = create_geotiff(classes_path, out_grid, 1, gdal.GDT_Byte, NODATA)
    probabilities = None
    if probabilities_path:
        probabilities = create_geotiff(probabilities_path, out_grid, info.num_classes, gdal.GDT_Byte, NODATA)
    try:
        stats = run_tiled_inference(source_path, plan.layout, predictor, plan.batch_size, classes.GetRasterBand(1),
                                    probabilities, progress, mask, colours)
        if stats.tiles_predicted == 0:
            raise Low2HighError(NO_DATA_TO_CLASSIFY)
    finally:
        classes = probabilities = None  # closes the files
    return stats


def _style_outputs(path: str, info: ModelInfo, is_probabilities: bool) -> None:
    """Colour table, class names and QGIS style on the class raster; names on probability bands."""
    if not is_probabilities:
        style_class_raster(path, info.class_names, class_colours(info.class_names), NODATA)
        return
    dataset = gdal.Open(path, gdal.GA_Update)
    for index, name in enumerate(info.class_names):
        band = dataset.GetRasterBand(index + 1)
        band.SetDescription(f"{name} probability (%)")
        # GeoTIFF tags a 4-band Byte file RGBA by default: viewers would show impervious % as transparency
        band.SetColorInterpretation(gdal.GCI_GrayIndex if index == 0 else gdal.GCI_Undefined)
    dataset = None


def _class_counts(path: str) -> np.ndarray:
    """Pixel count per class code of a class raster, read block by block."""
    source = RasterSource.open(path)
    counts = np.zeros(256, np.int64)
    for window in iter_windows(source.grid.width, source.grid.height):
        counts += np.bincount(source.read(window)[0].ravel(), minlength=256)
    return counts
