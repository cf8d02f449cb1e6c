"""Helpers of the fine-tuning tests (engine and QGIS algorithm): a tiny scene and square polygons."""
from __future__ import annotations

import os

from helpers import ORIGIN, make_model, make_raster, scene
from train_helpers import FACTOR, NLCD

from low2high.engine.labels.alignment import block_majority

SIDE = 128


def square(xmin: float, ymax: float, size: float) -> str:
    """A square polygon (WKT) with its top-left corner at (xmin, ymax)."""
    xmax, ymin = xmin + size, ymax - size
    return f"POLYGON(({xmin} {ymax},{xmax} {ymax},{xmax} {ymin},{xmin} {ymin},{xmin} {ymax}))"


def make_tune_scene(folder: str) -> dict:
    """A 128 px 1 m image, its NLCD-coded labels on an 8 m grid, a width-8 base model, an area over most of it."""
    pixels, classes = scene(SIDE, SIDE, seed=3)
    coarse = NLCD[block_majority(classes, FACTOR, 255)]
    return {"image": make_raster(os.path.join(folder, "image.tif"), pixels),
            "labels": make_raster(os.path.join(folder, "nlcd.tif"), coarse, pixel_size=float(FACTOR)),
            "model": make_model(os.path.join(folder, "base.pt"), width=8, tile_size=128, tile_overlap=16),
            "areas": [square(ORIGIN[0] + 4, ORIGIN[1] - 4, 112.0)], "classes": classes, "pixels": pixels,
            "folder": folder}


def polygon_layer(wkts: list[str], epsg: int = 26918):
    """A memory polygon layer of the drawn areas (WKT in EPSG:26918, the test image's CRS), stored in ``epsg``."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsGeometry,
        QgsProject,
        QgsVectorLayer,
    )

    layer = QgsVectorLayer(f"Polygon?crs=EPSG:{epsg}", "areas", "memory")
    transform = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:26918"),
                                       QgsCoordinateReferenceSystem(f"EPSG:{epsg}"), QgsProject.instance())
    features = []
    for wkt in wkts:
        geometry = QgsGeometry.fromWkt(wkt)
        geometry.transform(transform)
        feature = QgsFeature()
        feature.setGeometry(geometry)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer
