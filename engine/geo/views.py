"""A class raster seen on another raster's grid, by nearest neighbour, without writing anything.

Comparing a 30 m NLCD map in Albers with 1 m labels in UTM, or cutting coarse labels to an image's
blocks, needs one raster's classes on the other's pixels. A GDAL warped VRT in ``/vsimem`` does
that lazily: windows read from it are warped on demand, so memory stays constant and no
intermediate file is written. Nearest neighbour keeps class codes intact (no averaging of codes).
"""
from __future__ import annotations

import math
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional

from osgeo import gdal, osr

from ...core.errors import Low2HighError
from .gdal_scope import with_gdal
from .grid import Grid
from .raster_io import RasterSource, crs_name, same_crs


def same_grid(a: Grid, b: Grid) -> bool:
    """True when two grids share CRS, pixel size, origin and size (pixels correspond 1:1)."""
    close = all(math.isclose(x, y, rel_tol=0, abs_tol=1e-9 * max(1.0, abs(x)))
                for x, y in zip(a.geotransform, b.geotransform))
    return close and (a.width, a.height) == (b.width, b.height) and (
        a.crs_wkt == b.crs_wkt or (bool(a.crs_wkt) and bool(b.crs_wkt) and same_crs(a.crs_wkt, b.crs_wkt)))


@with_gdal
def bounds_in(grid: Grid, target_wkt: str) -> Optional[tuple[float, float, float, float]]:
    """``grid``'s bounds in another CRS (densified edges); None when they cannot be transformed."""
    if not grid.crs_wkt or not target_wkt or same_crs(grid.crs_wkt, target_wkt):
        return grid.bounds
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromWkt(grid.crs_wkt)
    target.ImportFromWkt(target_wkt)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    try:
        transform = osr.CoordinateTransformation(source, target)
        box = transform.TransformBounds(*grid.bounds, 21)
    except (RuntimeError, TypeError):
        return None
    if not all(math.isfinite(value) for value in box) or box[0] >= box[2] or box[1] >= box[3]:
        return None
    return tuple(box)


def check_overlap(source: Grid, target: Grid, source_what: str, target_what: str) -> None:
    """Refuse two rasters that cannot be related or do not overlap, saying which and where."""
    if not source.crs_wkt or not target.crs_wkt:
        missing = source_what if not source.crs_wkt else target_what
        raise Low2HighError(f"{missing} has no coordinate reference system, so it cannot be placed over the other "
                            "raster. Assign one first (Raster ▸ Projections ▸ Assign Projection).")
    box = bounds_in(source, target.crs_wkt)
    if box is None:
        raise Low2HighError(f"{source_what} ({crs_name(source.crs_wkt)}) cannot be transformed into the CRS of "
                            f"{target_what} ({crs_name(target.crs_wkt)}): the two do not cover the same part of "
                            "the world. Check that both layers are the ones you meant and that their CRSs are right.")
    xmin, ymin, xmax, ymax = target.bounds
    if box[2] <= xmin or box[0] >= xmax or box[3] <= ymin or box[1] >= ymax:
        raise Low2HighError(f"{source_what} ({crs_name(source.crs_wkt)}) and {target_what} "
                            f"({crs_name(target.crs_wkt)}) do not overlap: there are no pixels to compare. "
                            "Check that both layers cover the same area and that their CRSs are right.")


@contextmanager
@with_gdal
def nearest_view(path: str, target: Grid, nodata: float, source_nodata: Optional[float] = None,
                 what: str = "raster") -> Iterator[RasterSource]:
    """``path`` resampled by nearest neighbour onto ``target``, as a lazily warped raster.

    Pixels outside the source, and source nodata (its nodata value, mask or alpha band), read as
    ``nodata``. Nearest neighbour takes, for each target pixel, the source pixel under its centre.

    Yields:
        A :class:`RasterSource` on ``target`` (single use; do not share between threads).
    """
    vrt = f"/vsimem/low2high-view-{uuid.uuid4().hex}.vrt"
    xmin, ymin, xmax, ymax = target.bounds
    options = gdal.WarpOptions(format="VRT", outputBounds=(xmin, ymin, xmax, ymax), width=target.width,
                               height=target.height, dstSRS=target.crs_wkt or None, resampleAlg="near",
                               srcNodata=source_nodata, dstNodata=nodata, multithread=False)
    try:
        dataset = gdal.Warp(vrt, path, options=options)
    except RuntimeError as error:
        raise Low2HighError(f"The {what} cannot be resampled onto the other grid: {error}") from error
    if dataset is None:
        raise Low2HighError(f"The {what} cannot be resampled onto the other grid.")
    try:
        yield RasterSource(vrt, dataset, Grid(tuple(dataset.GetGeoTransform()), dataset.RasterXSize,
                                              dataset.RasterYSize, target.crs_wkt))
    finally:
        dataset = None
        gdal.Unlink(vrt)
