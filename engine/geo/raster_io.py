"""Raster files through GDAL: opening with clear errors, windowed reads, safe outputs.

Every read and write goes through a :class:`~low2high.engine.geo.grid.Window`, so no operation holds
a whole raster in memory. Outputs are written to a hidden sibling file that replaces the
destination only when the operation succeeds (:mod:`low2high.core.publication`): a cancelled or
failed run leaves nothing that looks like a valid result. Destinations are checked by
:mod:`low2high.core.destinations`.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence
from xml.sax.saxutils import quoteattr

import numpy as np
from osgeo import gdal, osr

from ...core.errors import Low2HighError
from ...core.publication import Publication
from ...core.resources import resource_path
from ...core.work_files import held, sweep_stale, work_stem
from .gdal_scope import with_gdal
from .grid import Grid, Window

#: Creation options of every GeoTIFF we write: tiled and compressed, BigTIFF when needed.
GEOTIFF_OPTIONS = ("TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER")


@with_gdal
def open_raster(path: str, what: str = "input raster") -> gdal.Dataset:
    """Open a raster for reading or raise :class:`Low2HighError` saying why it cannot be."""
    if not path:
        raise Low2HighError(f"No {what} was given; give the path of a raster file.")
    if not os.path.exists(path) and not path.startswith("/vsi"):
        raise Low2HighError(f"The {what} '{path}' does not exist; check the path ({os.path.abspath(path)}).")
    try:
        dataset = gdal.Open(path, gdal.GA_ReadOnly)
    except RuntimeError as error:
        raise Low2HighError(f"The {what} '{path}' is not a raster GDAL can read ({error}); choose a raster file "
                            "(e.g. a GeoTIFF).") from error
    if dataset is None or dataset.RasterCount == 0:
        raise Low2HighError(f"The {what} '{path}' is not a raster GDAL can read; choose a raster file (e.g. a "
                            "GeoTIFF).")
    return dataset


@with_gdal
def dataset_grid(dataset: gdal.Dataset, what: str = "input raster", require_crs: bool = True) -> Grid:
    """The pixel grid of an open dataset; a missing CRS is an error unless allowed."""
    geotransform = dataset.GetGeoTransform(can_return_null=True)
    name = os.path.basename(dataset.GetDescription())
    if geotransform is None:
        raise Low2HighError(f"The {what} '{name}' has no georeferencing (no pixel size or position), so it cannot be "
                            "placed on the map. Georeference it first (Raster ▸ Georeferencer), or choose a "
                            "georeferenced raster.")
    if geotransform[2] != 0 or geotransform[4] != 0 or geotransform[1] <= 0 or geotransform[5] >= 0:
        raise Low2HighError(f"The {what} '{name}' is not north-up (its pixel rows are rotated or flipped); warp it "
                            "first (Raster ▸ Projections ▸ Warp) and choose the warped raster.")
    crs_wkt = dataset.GetProjection() or ""
    if require_crs and not crs_wkt:
        raise Low2HighError(
            f"The {what} has no coordinate reference system. Assign one first "
            "(Raster ▸ Projections ▸ Assign Projection) so that it can be placed on the map."
        )
    return Grid(tuple(geotransform), dataset.RasterXSize, dataset.RasterYSize, crs_wkt)


@with_gdal
def same_crs(wkt_a: str, wkt_b: str) -> bool:
    """True when two WKT strings describe the same coordinate reference system."""
    if wkt_a == wkt_b:
        return True
    a, b = osr.SpatialReference(), osr.SpatialReference()
    a.ImportFromWkt(wkt_a)
    b.ImportFromWkt(wkt_b)
    return bool(a.IsSame(b))


@with_gdal
def crs_name(wkt: str) -> str:
    """A short human name for a CRS, e.g. ``EPSG:26918`` or its WKT name."""
    srs = osr.SpatialReference()
    if not wkt or srs.ImportFromWkt(wkt) != 0:
        return "no CRS"
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
    return f"EPSG:{code}" if code else (srs.GetName() or "unnamed CRS")


@dataclass
class RasterSource:
    """An input raster opened for windowed reading.

    GDAL datasets must not be shared between threads: a thread that reads opens its own
    :class:`RasterSource` on the same path.
    """

    path: str
    dataset: gdal.Dataset
    grid: Grid

    @classmethod
    def open(cls, path: str, what: str = "input raster", require_crs: bool = True) -> "RasterSource":
        dataset = open_raster(path, what)
        return cls(path, dataset, dataset_grid(dataset, what, require_crs))

    @property
    def band_count(self) -> int:
        return self.dataset.RasterCount

    @property
    def nodata(self) -> list[Optional[float]]:
        """The nodata value of each band (None where a band has none)."""
        return [self.dataset.GetRasterBand(i + 1).GetNoDataValue() for i in range(self.band_count)]

    @property
    def data_type_name(self) -> str:
        return gdal.GetDataTypeName(self.dataset.GetRasterBand(1).DataType)

    @with_gdal
    def read(self, window: Window, bands: Optional[Sequence[int]] = None, dtype=None) -> np.ndarray:
        """Pixels of ``window`` as (bands, rows, cols); ``bands`` are 1-based, all by default."""
        bands = list(bands) if bands is not None else list(range(1, self.band_count + 1))
        try:
            data = self.dataset.ReadAsArray(window.col, window.row, window.width, window.height, band_list=bands)
        except RuntimeError as error:  # e.g. "IReadBlock failed": a truncated or damaged file
            raise self.damaged(window, error) from None
        if data is None:  # GDAL without exceptions reports the failure by returning None
            raise self.damaged(window, gdal.GetLastErrorMsg())
        data = data.reshape(len(bands), window.height, window.width)
        return data if dtype is None else data.astype(dtype, copy=False)

    def damaged(self, window: Window, error: object) -> Low2HighError:
        """The sentence for pixels GDAL cannot read: the file is truncated or damaged.

        A view (an in-memory VRT of a label raster on the image grid) names the file it reads in
        GDAL's message: that file is the one to name.
        """
        files = [name for name in re.findall(r"(?:^|: )([^:]+?), band \d+: IReadBlock failed", str(error))
                 if not name.startswith("/vsimem/")]
        path = files[-1] if files else self.path
        return Low2HighError(f"The raster '{path}' is damaged or incomplete: its pixels near column "
                             f"{window.col}, row {window.row} cannot be read ({str(error).strip() or 'read error'}). "
                             "Copy or export the file again (e.g. Raster ▸ Conversion ▸ Translate from the original) "
                             "and run once more.")

    @with_gdal
    def valid_mask(self, window: Window, pixels: Optional[np.ndarray] = None) -> np.ndarray:
        """Which pixels of ``window`` hold data: (rows, cols) bool.

        A dataset-wide mask (alpha band or .msk file) decides where there is one; otherwise a
        pixel is nodata only when every band equals its nodata value (a dark pixel with one
        band at 0 is still data).
        """
        first = self.dataset.GetRasterBand(1)
        flags = first.GetMaskFlags()
        if flags & (gdal.GMF_PER_DATASET | gdal.GMF_ALPHA) and not flags & gdal.GMF_ALL_VALID:
            try:
                mask = first.GetMaskBand().ReadAsArray(window.col, window.row, window.width, window.height)
            except RuntimeError as error:
                raise self.damaged(window, error) from None
            if mask is None:
                raise self.damaged(window, gdal.GetLastErrorMsg())
            return mask > 0
        nodata = self.nodata
        if any(value is None for value in nodata):  # a band without nodata makes every pixel data
            return np.ones((window.height, window.width), bool)
        if pixels is None:
            pixels = self.read(window)
        invalid = np.ones((window.height, window.width), bool)
        for band, value in zip(pixels, nodata):
            assert value is not None  # every band has a nodata value (checked above)
            invalid &= np.isnan(band) if np.isnan(value) else band == value
        return ~invalid


def _sidecars(path: str) -> list[str]:
    """Files that travel with a GeoTIFF: GDAL's (category names live in the .aux.xml) and the
    QGIS default style (.qml) Low2High writes for class rasters."""
    stem = os.path.splitext(path)[0]
    return [path + ".aux.xml", path + ".msk", stem + ".tfw", stem + ".qml"]


def remove_raster_files(path: str) -> None:
    """Delete a raster and its sidecars, ignoring the ones that are not there."""
    for name in [path] + _sidecars(path):
        if os.path.exists(name):
            os.remove(name)


@contextmanager
def atomic_output(final_path: str) -> Iterator[str]:
    """Yield a hidden path beside ``final_path`` to write a raster to; publish it only on success.

    The raster and its sidecars replace the destination together (sidecars first, the .tif last,
    so a complete-looking file appears only when everything is there); on any exception,
    including cancellation, the hidden files are removed and the destination is left as it was.
    A run with several outputs stages each in one publication instead (:func:`stage_raster`).
    """
    with Publication() as publication:
        yield stage_raster(publication, final_path)


def stage_raster(publication: Publication, final_path: str, suffix: str = ".tif") -> str:
    """The hidden path of raster ``final_path`` (a GeoTIFF, or a VRT with ``suffix`` ".vrt") in
    ``publication``: its sidecars travel with it, and it appears together with the run's other outputs."""
    return publication.stage(final_path, suffix, _sidecars)


@with_gdal
def create_geotiff(path: str, grid: Grid, bands: int, data_type: int, nodata: Optional[float] = None) -> gdal.Dataset:
    """Create a tiled, compressed GeoTIFF on ``grid`` (the caller closes it by dropping it)."""
    driver = gdal.GetDriverByName("GTiff")
    try:
        dataset = driver.Create(path, grid.width, grid.height, bands, data_type, list(GEOTIFF_OPTIONS))
    except RuntimeError as error:
        raise Low2HighError(f"Cannot create '{path}' ({error}); choose a folder you can write to, with free "
                            "space.") from error
    dataset.SetGeoTransform(grid.geotransform)
    if grid.crs_wkt:
        dataset.SetProjection(grid.crs_wkt)
    if nodata is not None:
        for index in range(bands):
            dataset.GetRasterBand(index + 1).SetNoDataValue(nodata)
    return dataset


#: QGIS style template for class rasters (paletted renderer); its palette is filled per raster.
CLASS_STYLE_TEMPLATE = resource_path("styles", "classes.qml")


@with_gdal
def style_class_raster(path: str, class_names: Sequence[str], colours: Sequence[tuple[int, int, int]],
                       nodata: int) -> None:
    """Style a class raster for QGIS and GDAL: colour table, category names and a .qml.

    The GeoTIFF colour table always has 256 entries, which QGIS would list as 256 legend classes;
    the ``<name>.qml`` sidecar, loaded by QGIS as the default style, lists only the classes.
    """
    dataset = gdal.Open(path, gdal.GA_Update)
    style_class_band(dataset.GetRasterBand(1), class_names, colours, nodata)
    dataset = None
    entries = "\n        ".join(
        f'<paletteEntry value="{code}" color="#{r:02x}{g:02x}{b:02x}" alpha="255" label={quoteattr(name)}/>'
        for code, (name, (r, g, b)) in enumerate(zip(class_names, colours)))
    with open(CLASS_STYLE_TEMPLATE, encoding="utf-8") as handle:
        style = handle.read().replace("<!-- palette -->", entries)
    with open(os.path.splitext(path)[0] + ".qml", "w", encoding="utf-8") as handle:
        handle.write(style)


def style_class_band(band: gdal.Band, class_names: Sequence[str], colours: Sequence[tuple[int, int, int]],
                     nodata: int) -> None:
    """Give a class band its colour table and category names, so QGIS shows it styled at once.

    Only the classes get entries: QGIS builds its legend from the colour table, and ``nodata``
    pixels are transparent anyway.
    """
    table = gdal.ColorTable()
    for code, colour in enumerate(colours):
        table.SetColorEntry(code, (*colour, 255))
    band.SetRasterColorTable(table)
    band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
    band.SetRasterCategoryNames(list(class_names))
    band.SetNoDataValue(nodata)
    band.SetDescription("land cover class")


@contextmanager
def scratch_raster(folder: str, name: str) -> Iterator[str]:
    """A hidden raster path in ``folder`` for intermediate results, always removed at the end."""
    sweep_stale(folder)  # what killed runs left in this folder
    stem = work_stem(folder, name, "scratch")
    path = stem + ".tif"
    with held(stem):
        try:
            yield path
        finally:
            remove_raster_files(path)
