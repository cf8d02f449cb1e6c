"""Polygons that restrict where a raster is processed, burnt into a tile's pixels on demand.

The polygons are rasterised one tile at a time (never the whole raster), at pixel centres.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from osgeo import gdal, ogr, osr

from ...core.errors import Low2HighError
from .gdal_scope import with_gdal
from .grid import Grid, Window


class PolygonMask:
    """Polygons in a raster's CRS; :meth:`rasterize` tells which pixels of a window they cover."""

    @with_gdal
    def __init__(self, wkt_geometries: Sequence[str], crs_wkt: str) -> None:
        srs = osr.SpatialReference()
        if crs_wkt:
            srs.ImportFromWkt(crs_wkt)
        self._source = ogr.GetDriverByName("Memory").CreateDataSource("mask")
        self._layer = self._source.CreateLayer("mask", srs, ogr.wkbMultiPolygon)
        envelopes = []
        for wkt in wkt_geometries:
            try:
                geometry = ogr.CreateGeometryFromWkt(wkt)
            except RuntimeError as error:
                raise Low2HighError(f"A MASK geometry could not be read ({error}).") from error
            if geometry is None or geometry.IsEmpty() or geometry.GetArea() <= 0:
                continue
            feature = ogr.Feature(self._layer.GetLayerDefn())
            feature.SetGeometry(geometry)
            self._layer.CreateFeature(feature)
            envelopes.append(geometry.GetEnvelope())  # (xmin, xmax, ymin, ymax)
        if not envelopes:
            raise Low2HighError("MASK holds no polygon with an area (empty or non-polygon geometries only).")
        self.bounds = (min(e[0] for e in envelopes), min(e[2] for e in envelopes),
                       max(e[1] for e in envelopes), max(e[3] for e in envelopes))

    @with_gdal
    def rasterize(self, grid: Grid, window: Window) -> np.ndarray:
        """(rows, cols) bool: pixels of ``window`` whose centre lies inside a polygon."""
        target = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
        target.SetGeoTransform(grid.subgrid(window).geotransform)
        gdal.RasterizeLayer(target, [1], self._layer, burn_values=[1])
        return target.GetRasterBand(1).ReadAsArray() > 0


def optional_mask(wkt_geometries: Optional[Sequence[str]], crs_wkt: str) -> Optional[PolygonMask]:
    """A :class:`PolygonMask`, or None when no mask was asked for."""
    if wkt_geometries is None:
        return None
    return PolygonMask(wkt_geometries, crs_wkt)
