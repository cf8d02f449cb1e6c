"""The yardstick of ``make bench``: a plain fp32 ONNX Runtime tiling loop, as Deepness does it.

Fixed 512-px tiles stepped by ``tile - overlap`` (448 px), the last row and column padded with
zeros past the raster's edge; each tile is read (the raster's first bands, as many as the model
takes), normalised by the model card's contract, run alone, and the centre of its class map (half
the overlap trimmed from each inner side, the card's probability threshold applied, as Deepness
applies ``seg_thresh``) written into the output. Low2High exports and Deepness models alike.
No blending, no pipeline, no precision choice: what a careful user of a generic
QGIS deep-learning plugin gets. Used only to measure against; segment never calls it.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from osgeo import gdal

from ..core.contract import model_input
from ..engine.geo.grid import Window
from ..engine.geo.raster_io import RasterSource, create_geotiff
from ..engine.labels.classes import NODATA


@dataclass
class LoopStats:
    seconds: float
    megapixels: float
    computed_pixels: int


def reference_loop(source_path: str, model_path: str, output_path: str, tile: int = 512, overlap: int = 64,
                   device: str = "cpu") -> LoopStats:
    """Classify the whole raster at ``source_path`` with a fixed-size .onnx model into ``output_path``."""
    from ..engine.inference.decision import class_map
    from ..engine.inference.model_info import onnx_info
    from ..engine.inference.predictor import foreign_probabilities

    started = time.perf_counter()
    session = plain_session(model_path, device)
    card = onnx_info(session, model_path, device)
    bands = list(range(1, card.num_bands + 1))
    name = session.get_inputs()[0].name
    source = RasterSource.open(source_path, require_crs=False)
    height, width = source.grid.height, source.grid.width
    output = create_geotiff(output_path, source.grid, 1, gdal.GDT_Byte, NODATA)
    band = output.GetRasterBand(1)
    stride, margin = tile - overlap, overlap // 2
    rows, cols = _starts(height, tile, stride), _starts(width, tile, stride)
    for row in rows:
        for col in cols:
            window = Window(col, row, min(tile, width - col), min(tile, height - row))
            pixels = source.read(window, bands)
            batch = np.zeros((1, pixels.shape[0], tile, tile), np.float32)
            inputs = model_input(pixels, None, card.mean, card.std, card.standardisation)
            batch[0, :, :window.height, :window.width] = inputs
            (scores,) = session.run(None, {name: batch})
            if card.threshold or card.binary:
                classes = class_map(foreign_probabilities(scores, batch.shape, model_path)[0], card.threshold,
                                    card.binary)
            else:
                classes = scores[0].argmax(axis=0).astype(np.uint8)  # the same class for logits or probabilities
            top = 0 if row == 0 else margin
            left = 0 if col == 0 else margin
            bottom = window.height if row == rows[-1] else min(window.height, tile - margin)
            right = window.width if col == cols[-1] else min(window.width, tile - margin)
            band.WriteArray(classes[top:bottom, left:right], col + left, row + top)
    output = None
    return LoopStats(time.perf_counter() - started, height * width / 1e6, len(rows) * len(cols) * tile * tile)


def plain_session(model_path: str, device: str = "cpu") -> Any:
    """An ONNX Runtime session with its own thread count (one per core), as a generic plugin opens one.

    Not segment's sessions, which take one thread each because two passes run at once: the loop
    runs one pass at a time, and a one-thread session would make the yardstick half as fast.
    """
    from ..engine.inference.model import providers
    from ..models.onnx_card import open_onnx_session

    return open_onnx_session(model_path, providers(device), threads=0)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile starts every ``stride`` pixels until a tile reaches the end (the last one padded)."""
    count = 1 if length <= tile else math.ceil((length - tile) / stride) + 1
    return [k * stride for k in range(count)]
