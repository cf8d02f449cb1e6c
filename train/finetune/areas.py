"""The polygons a user drew: read, brought into the image's CRS, checked, and turned into chips.

Areas are given as WKT (QGIS hands over its features' geometries, already in the image's CRS; the
command line may give another CRS). Chips are squares of whole blocks on the image's block grid
(the grid coarse labels are aligned to), so region aggregation sees exactly the blocks the loss
is computed on; only chips touching a polygon are cut, so polygons far apart cost nothing between
them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from osgeo import ogr, osr

from ...core.errors import Low2HighError
from ...engine.geo.grid import Grid, Window
from ...engine.geo.mask import PolygonMask
from ...engine.geo.raster_io import crs_name, same_crs

CHIP_PIXELS = 256
"""Default chip side in pixels (rounded to whole blocks): 8 blocks of 30 m; small areas still fill one."""


@dataclass
class Areas:
    """The drawn polygons in the image's CRS.

    Attributes:
        wkt: Each polygon (with an area) as WKT in the image's CRS.
        envelopes: Each polygon's (xmin, ymin, xmax, ymax).
        mask: The polygons, rasterised per window on demand.
    """

    wkt: list[str]
    envelopes: list[tuple[float, float, float, float]]
    mask: PolygonMask

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.mask.bounds

    @property
    def area(self) -> float:
        """Drawn area in the CRS's squared units (overlaps counted once)."""
        union = None
        for text in self.wkt:
            geometry = ogr.CreateGeometryFromWkt(text)
            union = geometry if union is None else union.Union(geometry)
        return union.GetArea() if union is not None else 0.0


def _srs(text: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    try:
        if srs.SetFromUserInput(text) != 0:
            raise RuntimeError(text)
    except RuntimeError:
        raise Low2HighError(f"The CRS of AREAS ('{text[:60]}') is not one GDAL knows.") from None
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def read_area_file(path: str, layer: str = "") -> tuple[list[str], str]:
    """Every geometry of a vector file's layer (the first when ``layer`` is empty) as WKT, and its CRS.

    What ``low2high:finetune`` gets from a QGIS layer, for the command line. Call inside a GDAL
    session (exceptions on). Geometries without an area are kept here and skipped, with the others,
    by :func:`read_areas`.
    """
    try:
        source = ogr.Open(path)
    except RuntimeError as error:
        raise Low2HighError(f"The AREAS file '{path}' cannot be opened as vector data ({error}).") from None
    if source is None:
        raise Low2HighError(f"The AREAS file '{path}' cannot be opened as vector data.")
    names = [source.GetLayerByIndex(index).GetName() for index in range(source.GetLayerCount())]
    if not names:
        raise Low2HighError(f"The AREAS file '{path}' holds no layer.")
    if layer and layer not in names:
        raise Low2HighError(f"The AREAS file has no layer '{layer}'; its layers: {', '.join(names)}.")
    chosen = source.GetLayerByName(layer or names[0])
    srs = chosen.GetSpatialRef()
    wkt = [feature.GetGeometryRef().ExportToWkt() for feature in chosen if feature.GetGeometryRef() is not None]
    return wkt, srs.ExportToWkt() if srs is not None else ""


def read_areas(wkt: Sequence[str], crs: str, image: Grid) -> Areas:
    """Polygons with an area, in the image's CRS, at least one of them over the image.

    Raises:
        Low2HighError: no polygon with an area (empty layer, points or lines), an unreadable geometry,
            or polygons that all lie outside the image.
    """
    transform = None
    if crs and image.crs_wkt and not same_crs(_srs(crs).ExportToWkt(), image.crs_wkt):
        transform = osr.CoordinateTransformation(_srs(crs), _srs(image.crs_wkt))
    kept, envelopes = [], []
    for text in wkt:
        try:
            geometry = ogr.CreateGeometryFromWkt(text)
        except RuntimeError as error:
            raise Low2HighError(f"An AREAS geometry could not be read ({error}).") from None
        if geometry is None or geometry.IsEmpty() or geometry.GetDimension() != 2 or geometry.GetArea() <= 0:
            continue
        if transform is not None:
            geometry.Transform(transform)
        kept.append(geometry.ExportToWkt())
        xmin, xmax, ymin, ymax = geometry.GetEnvelope()
        envelopes.append((xmin, ymin, xmax, ymax))
    if not kept:
        raise Low2HighError("AREAS holds no polygon with an area: draw polygons (not points or lines) over the parts "
                            "of the image the coarse labels should teach.")
    if not any(image.window_for_bounds(*box) for box in envelopes):
        raise Low2HighError(f"The AREAS polygons lie outside INPUT: none of them covers a pixel of the image. Check "
                            f"the layer and its CRS (the image is in {crs_name(image.crs_wkt)}).")
    return Areas(kept, envelopes, PolygonMask(kept, image.crs_wkt))


def chip_side_blocks(factor: int, chip_blocks: int | None) -> int:
    """Blocks per chip side: the setting, or the whole number of blocks closest to 256 px (at least 2)."""
    if chip_blocks:
        return chip_blocks
    return max(2, round(CHIP_PIXELS / factor))


def chip_windows(image: Grid, areas: Areas, side: int) -> list[Window]:
    """The chips (``side`` px, on a grid anchored at the image's corner) that touch a polygon and the image.

    Windows may reach past the image's edges (whole blocks): pixels there are read as nodata.
    """
    x0, y0 = image.origin
    chips: set[tuple[int, int]] = set()
    last_row, last_col = (image.height - 1) // side, (image.width - 1) // side
    for xmin, ymin, xmax, ymax in areas.envelopes:
        col0 = max(0, math.floor((xmin - x0) / image.pixel_width / side))
        col1 = min(last_col, math.floor((xmax - x0) / image.pixel_width / side))
        row0 = max(0, math.floor((y0 - ymax) / image.pixel_height / side))
        row1 = min(last_row, math.floor((y0 - ymin) / image.pixel_height / side))
        chips.update((row, col) for row in range(row0, row1 + 1) for col in range(col0, col1 + 1))
    return [Window(col * side, row * side, side, side) for row, col in sorted(chips)]
