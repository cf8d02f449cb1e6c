"""Self-intersecting polygons a user drew (a bow-tie) are repaired, not refused, and the log says so.

A bow-tie's two lobes wind in opposite directions, so its signed area is 0 and it looked like "no
polygon with an area". What the user meant is the two triangles: GEOS's MakeValid (through OGR)
gives exactly those, and the polygonal parts of its result are kept (a collapsed spike becomes a
line and is dropped). QGIS's own ``makeValid`` is the same GEOS routine, so the algorithm and the
command line share this one function.
"""
from __future__ import annotations

from typing import Optional, Sequence

from osgeo import gdal, ogr

from ...core.errors import Low2HighError
from ...core.progress import Progress
from ...engine.geo.gdal_scope import with_gdal

_POLYGONAL = (ogr.wkbPolygon, ogr.wkbMultiPolygon)


@with_gdal
def repair_polygons(wkt: Sequence[str], progress: Progress) -> list[str]:
    """``wkt`` with every invalid polygon replaced by its valid polygonal parts; one log line names them.

    Geometries that are valid, or not polygons at all, pass unchanged (later checks skip the latter).

    Raises:
        Low2HighError: a geometry that cannot be read as WKT.
    """
    repaired: list[str] = []
    fixed: list[str] = []
    for number, text in enumerate(wkt, start=1):
        geometry = _read(text)
        if geometry is None or geometry.GetDimension() != 2 or _is_valid(geometry):
            repaired.append(text)
            continue
        polygons = _polygonal_parts(geometry.MakeValid())
        if polygons is None:
            repaired.append(text)  # nothing polygonal left: skipped later with the points and lines
            continue
        fixed.append(f"{number} (area {geometry.GetArea():g} → {polygons.GetArea():g})")
        repaired.append(polygons.ExportToWkt())
    if fixed:
        progress.info(f"AREAS polygon(s) {', '.join(fixed)} were not valid (e.g. a bow-tie crossing itself) and were "
                      "repaired with make valid (a bow-tie becomes its two lobes); check that they enclose what you "
                      "meant.")
    return repaired


def _read(text: str) -> Optional[ogr.Geometry]:
    try:
        return ogr.CreateGeometryFromWkt(text)
    except RuntimeError as error:
        raise Low2HighError(f"An AREAS geometry could not be read ({error}); redraw it or remove it.") from None


def _is_valid(geometry: ogr.Geometry) -> bool:
    """GEOS's validity test without its 'Self-intersection at …' notice on stderr (the log says it once)."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        return bool(geometry.IsValid())
    finally:
        gdal.PopErrorHandler()


def _polygonal_parts(geometry: Optional[ogr.Geometry]) -> Optional[ogr.Geometry]:
    """The polygons of a MakeValid result (a collection may also hold lines and points), or None."""
    if geometry is None or geometry.IsEmpty():
        return None
    if ogr.GT_Flatten(geometry.GetGeometryType()) in _POLYGONAL:
        return geometry
    parts = ogr.Geometry(ogr.wkbMultiPolygon)
    for index in range(geometry.GetGeometryCount()):
        part = geometry.GetGeometryRef(index)
        kind = ogr.GT_Flatten(part.GetGeometryType())
        if kind == ogr.wkbPolygon:
            parts.AddGeometry(part)
        elif kind == ogr.wkbMultiPolygon:
            for inner in range(part.GetGeometryCount()):
                parts.AddGeometry(part.GetGeometryRef(inner))
    return parts if parts.GetGeometryCount() else None
