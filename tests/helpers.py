"""Small rasters and models for tests, made by code (no downloads, no shared files)."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np
from osgeo import gdal, osr

UTM18N = 26918
#: Top-left corner of test rasters, inside UTM zone 18N (Prince George's County, MD).
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The checkout (the package root): resources/, scripts/, and ../shared beside it."""
ORIGIN = (330000.0, 4310000.0)


def make_raster(path: str, array: np.ndarray, pixel_size: float = 1.0, epsg: Optional[int] = UTM18N,
                nodata: Optional[float] = None, origin: Sequence[float] = ORIGIN, tiled: bool = False) -> str:
    """Write (bands, rows, cols) or (rows, cols) ``array`` as a GeoTIFF and return its path."""
    if array.ndim == 2:
        array = array[None]
    bands, rows, cols = array.shape
    data_type = gdal.GetDataTypeByName({"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "int32": "Int32",
                                        "float32": "Float32", "float64": "Float64"}[array.dtype.name])
    options = ["TILED=YES"] if tiled else []
    dataset = gdal.GetDriverByName("GTiff").Create(path, cols, rows, bands, data_type, options)
    dataset.SetGeoTransform((origin[0], pixel_size, 0.0, origin[1], 0.0, -pixel_size))
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        dataset.SetProjection(srs.ExportToWkt())
    for index in range(bands):
        band = dataset.GetRasterBand(index + 1)
        band.WriteArray(array[index])
        if nodata is not None:
            band.SetNoDataValue(nodata)
    dataset = None
    return path


def scene(rows: int, cols: int, bands: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A blocky synthetic landscape: (bands, rows, cols) uint8 image and its (rows, cols) classes.

    Each class has its own mean colour plus noise, in patches of a few tens of pixels, so a
    model can learn it quickly and tiles see varied content.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 4, size=(rows // 16 + 2, cols // 16 + 2))
    classes = np.kron(coarse, np.ones((16, 16), np.int64))[:rows, :cols].astype(np.uint8)
    palette = np.array([[40, 60, 110, 20], [50, 100, 50, 160], [150, 190, 110, 200], [170, 160, 150, 120]], np.float32)
    image = palette[classes][..., :bands].transpose(2, 0, 1) + rng.normal(0, 12, (bands, rows, cols))
    return np.clip(image, 1, 255).astype(np.uint8), classes


def read(path: str, band: Optional[int] = None) -> np.ndarray:
    """A raster's pixels as an array ((rows, cols) for one band)."""
    dataset = gdal.Open(path)
    if band is not None:
        return dataset.GetRasterBand(band).ReadAsArray()
    return dataset.ReadAsArray()


def make_model(path: str, bands: int = 4, width: int = 8, seed: int = 0, tile_size: int = 256,
               tile_overlap: int = 32, gsd: float = 1.0) -> str:
    """Save a small randomly initialised (seeded) Low2High checkpoint and return its path."""
    import torch

    from low2high.models.checkpoint import ModelCard, save_checkpoint
    from low2high.models.unet import UNet, UNetConfig

    torch.manual_seed(seed)
    model = UNet(UNetConfig(in_channels=bands, num_classes=4, width=width)).eval()
    band_names = ["red", "green", "blue", "nir"][:bands]
    card = ModelCard(band_names=band_names, mean=[0.45] * bands, std=[0.2] * bands, gsd=gsd,
                     tile_size=tile_size, tile_overlap=tile_overlap, description="test model")
    save_checkpoint(path, model, card)
    return path


def export_model(checkpoint: str, path: str) -> str:
    """Export a checkpoint to ONNX (fixed tile size, probabilities) and return its path."""
    from low2high.models.checkpoint import load_checkpoint
    from low2high.models.onnx_export import export_onnx

    loaded = load_checkpoint(checkpoint)
    export_onnx(loaded.build_model(), loaded.card, path)
    return path


#: The start of a ``python -c`` script in which dask and distributed cannot be imported (as on a machine without them).
WITHOUT_DASK_PRELUDE = """
import sys
class NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoDask())
"""
