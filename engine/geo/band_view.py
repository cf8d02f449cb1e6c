"""A view of some bands of a raster, in a chosen order, for a model that reads fewer or other bands.

A 4-band RGBN image fed to a 3-band RGB model, or a BGR image to an RGB one, is viewed through an
in-memory VRT holding just those bands (nothing is written), so every later step (statistics,
calibration, tiles, resampling) reads exactly what the model takes. Where the raster says where
it holds data with a dataset-wide mask (an alpha band or a .msk file) the view keeps that mask,
even when the alpha band is not one of the bands chosen; per-band nodata values come along.
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator, Sequence

from osgeo import gdal

from .gdal_scope import with_gdal


@contextmanager
@with_gdal
def band_view(path: str, bands: Sequence[int]) -> Iterator[str]:
    """Yield the path of an in-memory VRT of ``path``'s ``bands`` (1-based, in that order)."""
    source = gdal.Open(path)
    flags = source.GetRasterBand(1).GetMaskFlags()
    dataset_mask = bool(flags & (gdal.GMF_PER_DATASET | gdal.GMF_ALPHA)) and not flags & gdal.GMF_ALL_VALID
    source = None
    vrt = f"/vsimem/low2high-bands-{uuid.uuid4().hex}.vrt"
    options = gdal.TranslateOptions(format="VRT", bandList=list(bands), maskBand="mask" if dataset_mask else None)
    gdal.Translate(vrt, path, options=options)
    try:
        yield vrt
    finally:
        gdal.Unlink(vrt)
