"""What the network sees of one tile: the input contract's normalisation, padded to the tile's size.

Classification (:mod:`.pipeline`) and the precision trials and int8 calibration
(:mod:`.calibration`) both prepare their tiles here, so a precision is judged and calibrated on
tiles made exactly like the ones it will classify (the trials once padded with zeros where
classification mirrored the image).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ...core.contract import model_input
from .model_info import ModelInfo


def network_input(pixels: np.ndarray, valid: Optional[np.ndarray], info: ModelInfo, height: int,
                  width: int) -> np.ndarray:
    """(bands, height, width) float32 from a tile's (bands, h, w) pixels, normalised by the model's
    input statistics (:func:`~low2high.core.contract.model_input`) and padded by :func:`pad_tile`."""
    return pad_tile(model_input(pixels, valid, info.mean, info.std, info.standardisation), height, width)


def pad_tile(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad the bottom and right of (..., h, w) to (height, width).

    Image values are mirrored (the network sees texture like the image's, not a black band that
    changes its predictions near the edge); a boolean valid mask is padded with False.
    """
    pad_rows, pad_cols = height - array.shape[-2], width - array.shape[-1]
    if pad_rows == 0 and pad_cols == 0:
        return array
    widths = [(0, 0)] * (array.ndim - 2) + [(0, pad_rows), (0, pad_cols)]
    return np.pad(array, widths, mode="constant" if array.dtype == bool else "symmetric")
