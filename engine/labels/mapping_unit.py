"""A minimum mapping unit for class maps: patches smaller than an area join their largest neighbour.

A network classifies every pixel on its own evidence, so a map of a forest holds specks of water or
roof a few pixels wide where the canopy is dark or bright. Land-cover products state a minimum
mapping unit (NLCD's is about 0.4 ha) and cartographers apply one with a sieve; QGIS users know it as
GDAL's *Sieve* tool. ``segment`` applies it to its class map when MIN_MAPPING_UNIT (or the model's
card) asks, after the tiles are merged, so the unit never depends on where the tiles fell.

GDAL's sieve (``GDALSieveFilter``) is used as is: it streams the raster by scan lines, so a map of
any size is sieved in memory proportional to its width and its patch count, updates the band in
place, leaves pixels outside the band's mask (nodata) untouched, and reports progress and honours
cancelling through its callback. Patches are 8-connected: a road drawn diagonally is one patch, not
a chain of single pixels that the sieve would erase.
"""
from __future__ import annotations

import math

import numpy as np
from osgeo import gdal

from ...core.errors import Cancelled, Low2HighError
from ...core.progress import Progress, SilentProgress
from ..geo.gdal_scope import with_gdal
from .classes import NODATA

#: Neighbourhood of a patch: 8 keeps diagonal lines (roads, streams) whole.
CONNECTEDNESS = 8


def unit_in_pixels(area_m2: float, pixel_area_m2: float) -> int:
    """The smallest patch kept, in pixels of ``pixel_area_m2`` each, for a unit given in square metres (0: none).

    A patch survives when it holds at least this many pixels; rounding up keeps the promise that no
    patch smaller than the area stays on the map.
    """
    if not math.isfinite(area_m2) or area_m2 < 0:
        raise Low2HighError(f"MIN_MAPPING_UNIT must be an area of 0 m² or more (got {area_m2}).")
    if area_m2 == 0:
        return 0
    return max(1, math.ceil(area_m2 / pixel_area_m2 - 1e-9))


@with_gdal
def sieve_class_raster(path: str, min_pixels: int, progress: Progress) -> None:
    """Replace every 8-connected patch of fewer than ``min_pixels`` pixels in ``path`` by its largest neighbour.

    The file is updated in place (it is a run's unpublished output); nodata pixels neither move nor
    absorb patches. Raises :class:`Cancelled` when the user cancels.
    """
    if min_pixels <= 1:
        return
    dataset = gdal.Open(path, gdal.GA_Update)
    if dataset is None:
        raise Low2HighError(f"Cannot open the class map '{path}' to apply the minimum mapping unit.")
    progress.info(f"Applying the minimum mapping unit: patches under {min_pixels} pixels join their largest "
                  "neighbour.")
    try:
        _sieve_band(dataset.GetRasterBand(1), min_pixels, progress, path)
    finally:
        dataset = None


@with_gdal
def sieve_classes(classes: np.ndarray, min_pixels: int, nodata: int = NODATA) -> np.ndarray:
    """:func:`sieve_class_raster` for a class map in memory (``nodata`` pixels left alone); returns a new array."""
    if min_pixels <= 1:
        return classes.copy()
    rows, cols = classes.shape
    dataset = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_Byte)
    band = dataset.GetRasterBand(1)
    band.SetNoDataValue(nodata)
    band.WriteArray(classes)
    _sieve_band(band, min_pixels, SilentProgress(), "a class map")
    return band.ReadAsArray()


def _sieve_band(band: gdal.Band, min_pixels: int, progress: Progress, shown: str) -> None:
    """GDAL's sieve of ``band`` in place, masked by its nodata, reporting to ``progress``."""

    def report(fraction: float, _message: object, _data: object) -> int:
        progress.set_fraction(fraction)
        return 0 if progress.is_canceled() else 1

    try:
        gdal.SieveFilter(band, band.GetMaskBand(), band, min_pixels, CONNECTEDNESS, callback=report)
    except RuntimeError as error:
        if progress.is_canceled():
            raise Cancelled("Cancelled while applying the minimum mapping unit.") from None
        raise Low2HighError(f"Applying the minimum mapping unit to {shown} failed: {error}") from None
