"""Coarse labels on an exact n × n block grid of an image: the correspondence region aggregation needs.

Region aggregation sums a network's fine predictions over the image pixels under one coarse label
cell and compares the sum with that cell's class. That only works when each coarse cell covers
exactly n × n image pixels. Coarse products rarely line up like that (30 m NLCD lives in Albers,
NAIP in UTM), so the labels are put onto a *block grid* of the image: same CRS, origin on the
image's top-left pixel corner, cells of n × the image pixel size (n = 30 for 30 m labels on 1 m
imagery, 50 on 0.6 m). The block grid covers the whole image; where the image's size is not a
multiple of n, the last row / column of blocks reaches past its edge.

Two ways to give a block its class:

* ``nearest``: the label under the block's centre (GDAL's nearest-neighbour warp, which samples
  the source at each target pixel's centre);
* ``majority``: the most frequent label among the block's n × n image pixels, each pixel taking
  the label under its centre. Nodata votes like a class (a block mostly outside the labels, or
  mostly ignored classes, stays nodata); ties go to the lowest code, except that a class always
  wins a tie against nodata. This is computed here in numpy, not by GDAL's ``mode``, so the rule
  is exact and the same on every GDAL version.

The inverse, :func:`aggregate_labels`, reduces a fine class raster to its own n × n block grid by
majority: for QA, compare it with the coarse labels aligned to the same grid.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Optional

import numpy as np
from osgeo import gdal

from ...core.destinations import RASTER_EXTENSIONS, check_destination
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled
from ..geo.gdal_scope import with_gdal
from ..geo.grid import Grid, Window
from ..geo.raster_io import (
    RasterSource,
    atomic_output,
    create_geotiff,
    style_class_raster,
)
from ..geo.resample import GSD_TOLERANCE, ground_sample_distance
from ..geo.views import check_overlap, nearest_view
from .classes import MERGED_COLOURS, MERGED_NAMES, NODATA
from .rasters import WINDOW_SIZE, count_windows, iter_windows, require_integer_labels, require_single_band

METHODS = ("nearest", "majority")
#: A pixel-size ratio within this many image pixels of a whole number counts as whole (30 / 0.6).
WHOLE_RATIO_TOLERANCE = 0.01
#: Integer GDAL types a label raster may have, with the numpy type and the default nodata.
_LABEL_TYPES = {"Byte": (gdal.GDT_Byte, 255), "UInt16": (gdal.GDT_UInt16, 65535), "Int16": (gdal.GDT_Int16, -32768),
                "UInt32": (gdal.GDT_UInt32, 4294967295), "Int32": (gdal.GDT_Int32, -2147483648)}


def resolve_factor(label_gsd: float, image_gsd: float, factor: Optional[int], progress: Progress,
                   labels_what: str = "LABELS", image_what: str = "IMAGE", factor_name: str = "FACTOR") -> int:
    """The block side n in image pixels: ``factor`` if given, else label / image pixel size.

    ``factor_name``: how messages name the setting (``--factor`` on the command line).

    Raises:
        Low2HighError: labels finer than the image, or as fine (then n cannot be derived: a coarse
            product resampled to a fine grid needs an explicit factor).
    """
    ratio = label_gsd / image_gsd
    if factor is not None:
        if factor < 1:
            raise Low2HighError(f"{factor_name} must be at least 1 (got {factor}).")
        if ratio > 1 + GSD_TOLERANCE and abs(ratio / factor - 1) > GSD_TOLERANCE:
            progress.warn(f"{factor_name} {factor} makes blocks of {factor * image_gsd:.4g} m, but {labels_what} has "
                          f"{label_gsd:.4g} m pixels ({ratio:.3g} × the {image_gsd:.4g} m pixels of {image_what}). "
                          f"Check {factor_name}.")
        return factor
    if ratio < 1 - GSD_TOLERANCE:
        raise Low2HighError(f"{labels_what} ({label_gsd:.4g} m pixels) is finer than {image_what} ({image_gsd:.4g} m "
                            f"pixels); block alignment puts coarse labels onto blocks of image pixels. Resample the "
                            "labels to the image instead, or swap the two layers if they were mixed up.")
    if ratio < 1.5:
        raise Low2HighError(f"{labels_what} has the same pixel size as {image_what} ({label_gsd:.4g} m), so the block "
                            "size cannot be derived from the pixel sizes. If the labels are a coarse product resampled "
                            f"onto a finer grid (e.g. NLCD at 1 m), give {factor_name}: the product's cell size "
                            f"divided by the image's pixel size (e.g. {30 / image_gsd:.4g} for 30 m NLCD on "
                            f"{image_gsd:.4g} m pixels).")
    factor = int(round(ratio))
    if abs(ratio - factor) > WHOLE_RATIO_TOLERANCE:
        progress.warn(f"{labels_what} pixels ({label_gsd:.4g} m) are not a whole multiple of {image_what} pixels "
                      f"({image_gsd:.4g} m): the ratio is {ratio:.3f}, so blocks of {factor} × {factor} pixels "
                      f"({factor * image_gsd:.4g} m) are used. Give {factor_name} to choose another size.")
    return factor


def block_grid(image: Grid, factor: int) -> Grid:
    """The n × n block grid of ``image``: same CRS and origin, cells n pixels wide, covering it all."""
    x0, y0 = image.origin
    return Grid((x0, image.pixel_width * factor, 0.0, y0, 0.0, -image.pixel_height * factor),
                -(-image.width // factor), -(-image.height // factor), image.crs_wkt)


def block_pixels_grid(image: Grid, factor: int) -> Grid:
    """The image's pixel grid extended to whole blocks (what the majority vote reads)."""
    blocks = block_grid(image, factor)
    return Grid(image.geotransform, blocks.width * factor, blocks.height * factor, image.crs_wkt)


def block_majority(labels: np.ndarray, factor: int, nodata: Optional[int] = NODATA) -> np.ndarray:
    """The most frequent value of each ``factor`` × ``factor`` block of ``labels``.

    Args:
        labels: (rows, cols) integers, both multiples of ``factor``.
        factor: block side in pixels.
        nodata: a value that loses every tie (None: no such value).

    Returns:
        (rows / factor, cols / factor) array of ``labels``' dtype. Ties go to the lowest value.
    """
    rows, cols = labels.shape
    if rows % factor or cols % factor:
        raise ValueError(f"a {rows} × {cols} array is not made of {factor} × {factor} blocks")
    block_rows, block_cols = rows // factor, cols // factor
    blocks = labels.reshape(block_rows, factor, block_cols, factor).swapaxes(1, 2).reshape(-1, factor * factor)
    values, compact = _compact_codes(blocks)
    per_block = len(values)
    keys = np.arange(blocks.shape[0], dtype=np.int64)[:, None] * per_block + compact
    votes = np.bincount(keys.ravel(), minlength=blocks.shape[0] * per_block).reshape(-1, per_block) * 2
    if nodata is not None and nodata in values:
        votes[:, np.searchsorted(values, nodata)] -= 1  # a class wins a tie against nodata
    return values[np.argmax(votes, axis=1)].reshape(block_rows, block_cols).astype(labels.dtype, copy=False)


def _compact_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values (ascending) and each element's index among them."""
    if values.dtype in (np.uint8, np.uint16):
        size = 256 if values.dtype == np.uint8 else 65536
        seen = np.bincount(values.ravel(), minlength=size) > 0
        distinct = np.flatnonzero(seen).astype(values.dtype)
        index = np.cumsum(seen) - 1
        return distinct, index[values]
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.reshape(values.shape)


@dataclass
class AlignRequest:
    """``align_labels``' inputs; the fields mirror ``low2high:alignlabels``' parameters."""

    labels_path: str
    image_path: str
    output_path: str
    factor: Optional[int] = None  # None: from the two pixel sizes
    method: str = "majority"  # nearest or majority
    window_size: int = WINDOW_SIZE


@dataclass
class AggregateRequest:
    """``aggregate_labels``' inputs; the fields mirror ``low2high:aggregatelabels``' parameters."""

    input_path: str
    output_path: str
    factor: Optional[int] = None  # None: from COARSE's pixel size
    coarse_path: Optional[str] = None  # a coarse raster whose pixel size gives the factor
    window_size: int = WINDOW_SIZE


@dataclass
class AlignResult:
    output_path: str
    factor: int
    grid: Grid  # the block grid written
    method: str
    nodata_blocks: int


@with_gdal
def align_labels(request: AlignRequest, progress: Optional[Progress] = None) -> AlignResult:
    """Put LABELS onto the n × n block grid of IMAGE (nearest or majority) into OUTPUT.

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix; nothing is written.
    """
    progress = progress or SilentProgress()
    if request.method not in METHODS:
        raise Low2HighError(f"METHOD must be one of {', '.join(METHODS)} (got '{request.method}').")
    output = check_destination(request.output_path, "OUTPUT", RASTER_EXTENSIONS,
                               inputs={"LABELS": request.labels_path, "IMAGE": request.image_path})
    labels = RasterSource.open(request.labels_path, "LABELS raster")
    image = RasterSource.open(request.image_path, "IMAGE raster")
    require_integer_labels(labels, "LABELS")
    require_single_band(labels, "LABELS")  # a 4-band image given as labels was aligned as codes from its red band
    check_overlap(labels.grid, image.grid, "LABELS", "IMAGE")
    factor = resolve_factor(ground_sample_distance(labels.grid), ground_sample_distance(image.grid),
                            request.factor, progress)
    return _write_blocks(request.labels_path, labels, image.grid, factor, request.method, output,
                         request.window_size, progress)


@with_gdal
def aggregate_labels(request: AggregateRequest, progress: Optional[Progress] = None) -> AlignResult:
    """Reduce a fine class raster to its own n × n block grid by majority (for QA against coarse labels)."""
    progress = progress or SilentProgress()
    output = check_destination(request.output_path, "OUTPUT", RASTER_EXTENSIONS,
                               inputs={"INPUT": request.input_path, "COARSE": request.coarse_path})
    fine = RasterSource.open(request.input_path, "input class raster")
    require_integer_labels(fine, "The input class raster")
    factor = request.factor
    if factor is None:
        if not request.coarse_path:
            raise Low2HighError("Give FACTOR (block side in pixels) or a COARSE raster whose pixel size sets it.")
        coarse = RasterSource.open(request.coarse_path, "COARSE raster")
        factor = resolve_factor(ground_sample_distance(coarse.grid), ground_sample_distance(fine.grid), None,
                                progress, "COARSE", "the input")
    elif factor < 2:
        raise Low2HighError(f"FACTOR must be at least 2 to aggregate (got {factor}).")
    check_aggregable(fine, factor)
    return _write_blocks(request.input_path, fine, fine.grid, factor, "majority", output, request.window_size,
                         progress, empty="The input class raster holds no data: every block is nodata. Check that "
                                         "it is the land-cover raster.")


def check_aggregable(fine: RasterSource, factor: int) -> None:
    """Refuse what majority blocks cannot be made of: imagery (several bands), or a raster smaller than a block.

    Raises:
        Low2HighError: naming the band count or the sizes, and what to choose instead.
    """
    require_single_band(fine, "The input")
    width, height = fine.grid.width, fine.grid.height
    if factor > min(width, height):
        raise Low2HighError(f"FACTOR {factor} is larger than the input raster ({width} × {height} pixels): not one "
                            f"whole block of {factor} × {factor} pixels fits. Choose a FACTOR of at most "
                            f"{min(width, height)}.")


def label_type(source: RasterSource) -> tuple[int, float]:
    """GDAL data type and nodata of the output: the labels' own (nodata defaults by type)."""
    name = source.data_type_name
    if name not in _LABEL_TYPES:
        raise Low2HighError(f"Label rasters of type {name} are not supported; convert them to Byte or UInt16 first.")
    data_type, default = _LABEL_TYPES[name]
    nodata = source.nodata[0]
    return data_type, default if nodata is None else nodata


@with_gdal
def _write_blocks(labels_path: str, labels: RasterSource, image: Grid, factor: int, method: str, output: str,
                  window_size: int, progress: Progress, empty: str = "") -> AlignResult:
    blocks = block_grid(image, factor)
    data_type, nodata = label_type(labels)
    progress.info(f"Putting {os.path.basename(labels_path)} onto {blocks.width} × {blocks.height} blocks of "
                  f"{factor} × {factor} image pixels ({method}).")
    with ExitStack() as stack:
        target = blocks if method == "nearest" else block_pixels_grid(image, factor)
        view = stack.enter_context(nearest_view(labels_path, target, nodata, labels.nodata[0], "LABELS"))
        temporary = stack.enter_context(atomic_output(output))
        seen, nodata_blocks = _block_windows(view, temporary, blocks, factor, method, data_type, nodata,
                                             window_size, progress)
        if nodata_blocks == blocks.width * blocks.height:
            raise Low2HighError(empty or "The labels hold no data over the image: every block is nodata. Check that "
                                "the two layers cover the same area.")
        _style(temporary, labels, seen, nodata)
    progress.info(f"Done: {blocks.width * blocks.height - nodata_blocks:,} blocks labelled, {nodata_blocks:,} nodata.")
    return AlignResult(output, factor, blocks, method, nodata_blocks)


def _block_windows(view: RasterSource, path: str, blocks: Grid, factor: int, method: str, data_type: int,
                   nodata: float, window_size: int, progress: Progress) -> tuple[set, int]:
    """Write each window of blocks to ``path``; the codes written and the count of nodata blocks."""
    seen: set = set()
    nodata_blocks = 0
    step = max(1, window_size // factor)
    total = count_windows(blocks.width, blocks.height, step)
    dataset = create_geotiff(path, blocks, 1, data_type, nodata)
    try:
        band = dataset.GetRasterBand(1)
        for done, window in enumerate(iter_windows(blocks.width, blocks.height, step)):
            check_canceled(progress)
            if method == "nearest":
                values = view.read(window)[0]
            else:
                pixels = Window(window.col * factor, window.row * factor, window.width * factor, window.height * factor)
                values = block_majority(view.read(pixels)[0], factor, int(nodata))
            nodata_blocks += int(np.count_nonzero(values == nodata))
            seen.update(np.unique(values).tolist())
            band.WriteArray(values, window.col, window.row)
            progress.set_fraction((done + 1) / total)
    finally:
        band = dataset = None  # closes the file
    return seen, nodata_blocks


def _style(path: str, labels: RasterSource, seen: set, nodata: float) -> None:
    """Merged-taxonomy blocks get the merged names, colours and QGIS style; others keep the labels' colours."""
    if nodata == NODATA and seen <= set(range(len(MERGED_NAMES))) | {NODATA}:
        style_class_raster(path, MERGED_NAMES, MERGED_COLOURS, NODATA)
        return
    source_band = labels.dataset.GetRasterBand(1)
    table = source_band.GetRasterColorTable()
    if table is not None:
        dataset = gdal.Open(path, gdal.GA_Update)
        band = dataset.GetRasterBand(1)
        band.SetRasterColorTable(table)
        band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        names = source_band.GetRasterCategoryNames()
        if names:
            band.SetRasterCategoryNames(names)
        band = dataset = None
