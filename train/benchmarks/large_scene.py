"""A large 1 m scene made cheaply: a 4-band Byte image and 30 m NLCD-coded labels over many km².

Measuring fine-tuning's memory over a 20 × 20 km polygon needs a 20 km raster, but not 1.6 GB of
distinct pixels: the image is a VRT that repeats one 960 × 960 px GeoTIFF tile (32 × 32 cells of
30 m, so every tile's cells line up with the labels' grid), and the labels repeat that tile's 32 ×
32 codes. Reading a window costs what reading a real raster costs (GDAL decodes the tile), while
the files take a few MB and are written in a second. The image follows the labels (each code its
own colour plus noise) so a model has something to learn.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

CELL = 30
"""Label pixel size in metres (NLCD's)."""
TILE_CELLS = 32
"""Label cells per tile side: a tile is 960 m, a whole number of cells and of 1 m pixels."""
ORIGIN = (300000.0, 4400000.0)
"""Top-left corner in UTM 18N (EPSG:26918), the Chesapeake region's zone."""
EPSG = 26918
CODES = np.array([11, 21, 22, 23, 24, 41, 42, 43, 52, 71, 81, 82, 90, 95], np.uint8)
"""NLCD codes drawn across the tile (every merged class present)."""
MARGIN = 100
"""Metres of image around the polygon on every side."""


@dataclass
class LargeScene:
    """Paths of a made scene, the square polygon (WKT, the image's CRS) over it and a GeoPackage holding it."""

    image: str
    labels: str
    polygon: str
    areas_file: str
    side_m: int


def _srs() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    return srs.ExportToWkt()


def _write(path: str, array: np.ndarray, pixel_size: float, tiled: bool) -> None:
    """(bands, rows, cols) Byte GeoTIFF at :data:`ORIGIN`."""
    bands, rows, cols = array.shape
    options = ["COMPRESS=DEFLATE"] + (["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"] if tiled else [])
    dataset = gdal.GetDriverByName("GTiff").Create(path, cols, rows, bands, gdal.GDT_Byte, options)
    dataset.SetGeoTransform((ORIGIN[0], pixel_size, 0.0, ORIGIN[1], 0.0, -pixel_size))
    dataset.SetProjection(_srs())
    for index in range(bands):
        dataset.GetRasterBand(index + 1).WriteArray(array[index])
    dataset.FlushCache()
    dataset = None


def _tile(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(32, 32) NLCD codes in 4 × 4-cell patches, and the (4, 960, 960) image that follows them."""
    rng = np.random.default_rng(seed)
    patches = rng.choice(CODES, (TILE_CELLS // 4, TILE_CELLS // 4))
    codes = np.kron(patches, np.ones((4, 4), np.uint8))  # (32, 32)
    colours = rng.integers(30, 220, (256, 4)).astype(np.int16)  # each code its own colour
    image = np.kron(colours[codes].transpose(2, 0, 1), np.ones((1, CELL, CELL), np.int16))  # (4, 960, 960)
    image += rng.integers(-20, 21, image.shape, dtype=np.int16)
    return codes, np.clip(image, 0, 255).astype(np.uint8)


def _vrt(path: str, tile_path: str, tiles: int) -> None:
    """A VRT of ``tiles`` × ``tiles`` copies of the 4-band tile at ``tile_path``."""
    side = TILE_CELLS * CELL
    size = tiles * side
    transform = ", ".join(f"{value:.10g}" for value in (ORIGIN[0], 1.0, 0.0, ORIGIN[1], 0.0, -1.0))
    parts = [f'<VRTDataset rasterXSize="{size}" rasterYSize="{size}">',
             f"<SRS>{_srs()}</SRS>", f"<GeoTransform>{transform}</GeoTransform>"]
    source = os.path.basename(tile_path)
    for band in range(1, 5):
        parts.append(f'<VRTRasterBand dataType="Byte" band="{band}">')
        for row in range(tiles):
            for col in range(tiles):
                parts.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="1">{source}</SourceFilename>'
                    f"<SourceBand>{band}</SourceBand>"
                    f'<SrcRect xOff="0" yOff="0" xSize="{side}" ySize="{side}"/>'
                    f'<DstRect xOff="{col * side}" yOff="{row * side}" xSize="{side}" ySize="{side}"/>'
                    "</SimpleSource>")
        parts.append("</VRTRasterBand>")
    parts.append("</VRTDataset>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(parts))


def _areas_file(path: str, polygon: str) -> None:
    """A GeoPackage with ``polygon`` (the command line's ``--areas-file``: WKT holds commas, a list flag splits)."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    layer = source.CreateLayer("areas", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(polygon))
    layer.CreateFeature(feature)
    source = None


def make_large_scene(folder: str, side_m: int, seed: int = 0) -> LargeScene:
    """A scene covering a ``side_m`` square polygon plus :data:`MARGIN`; files land in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    codes, image = _tile(seed)
    tiles = math.ceil((side_m + 2 * MARGIN) / (TILE_CELLS * CELL))
    tile_path = os.path.join(folder, "tile.tif")
    _write(tile_path, image, 1.0, tiled=True)
    image_path = os.path.join(folder, f"image_{side_m}m.vrt")
    _vrt(image_path, tile_path, tiles)
    labels_path = os.path.join(folder, f"nlcd_{side_m}m.tif")
    _write(labels_path, np.tile(codes, (tiles, tiles))[None], float(CELL), tiled=False)
    xmin, ymax = ORIGIN[0] + MARGIN, ORIGIN[1] - MARGIN
    xmax, ymin = xmin + side_m, ymax - side_m
    polygon = f"POLYGON(({xmin} {ymax},{xmax} {ymax},{xmax} {ymin},{xmin} {ymin},{xmin} {ymax}))"
    areas_path = os.path.join(folder, f"areas_{side_m}m.gpkg")
    if os.path.exists(areas_path):
        os.remove(areas_path)
    _areas_file(areas_path, polygon)
    return LargeScene(image_path, labels_path, polygon, areas_path, side_m)
