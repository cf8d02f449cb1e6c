"""Bring an image to a model's ground sample distance and a result back to the image's grid.

A model trained on 1 m pixels sees 0.6 m imagery as a zoomed-in world; running it at the
wrong scale gives poor maps. The image is viewed through a GDAL warped VRT at the model's pixel
size (nothing is written), and the classes found there are put back on the input's grid.
"""
from __future__ import annotations

import math
import uuid
from contextlib import contextmanager
from typing import Iterator

from osgeo import gdal, osr

from .gdal_scope import with_gdal
from .grid import Grid, Window
from .raster_io import GEOTIFF_OPTIONS, dataset_grid

#: Relative difference of pixel sizes below which a raster is used at its own resolution.
GSD_TOLERANCE = 0.05
_METRES_PER_DEGREE = 111_320.0


def ground_sample_distance(grid: Grid) -> float:
    """Mean pixel size of a grid in metres (approximate for geographic CRSs)."""
    srs = osr.SpatialReference()
    srs.ImportFromWkt(grid.crs_wkt)
    if srs.IsGeographic():
        latitude = math.radians((grid.bounds[1] + grid.bounds[3]) / 2)
        return (grid.pixel_width * math.cos(latitude) + grid.pixel_height) / 2 * _METRES_PER_DEGREE
    return (grid.pixel_width + grid.pixel_height) / 2 * srs.GetLinearUnits()


@contextmanager
@with_gdal
def resampled_view(path: str, grid: Grid, region: Window, gsd: float) -> Iterator[tuple[str, Grid, Window]]:
    """An in-memory warped VRT of ``region`` at ``gsd`` metres per pixel.

    Yields the VRT's path, its grid and the window to classify (all of it). Downsampling
    averages pixels; upsampling interpolates bilinearly.
    """
    scale = gsd / ground_sample_distance(grid)
    xmin, ymin, xmax, ymax = grid.window_bounds(region)
    width, height = max(1, round(region.width / scale)), max(1, round(region.height / scale))
    vrt = f"/vsimem/low2high-{uuid.uuid4().hex}.vrt"
    options = gdal.WarpOptions(format="VRT", outputBounds=(xmin, ymin, xmax, ymax), width=width, height=height,
                               resampleAlg="average" if scale > 1 else "bilinear")
    dataset = gdal.Warp(vrt, path, options=options)
    view_grid = dataset_grid(dataset, require_crs=False)
    dataset = None
    try:
        yield vrt, view_grid, view_grid.full_window
    finally:
        gdal.Unlink(vrt)


@with_gdal
def warp_onto(source_path: str, target_path: str, target: Grid, resampling: str) -> None:
    """Resample a Low2High output raster onto ``target`` (nodata 255 kept) as a GeoTIFF."""
    xmin, ymin, xmax, ymax = target.bounds
    options = gdal.WarpOptions(format="GTiff", outputBounds=(xmin, ymin, xmax, ymax), width=target.width,
                               height=target.height, resampleAlg=resampling, srcNodata=255, dstNodata=255,
                               creationOptions=list(GEOTIFF_OPTIONS))
    gdal.Warp(target_path, source_path, options=options)
