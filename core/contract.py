"""The network's input and output contract, defined once for training, evaluation and inference.

Every path that feeds a Low2High network (the dataset builder's statistics, the training chips,
``train evaluate``, the segment pipeline, finetune) goes through :func:`normalise`, so a model
is always evaluated on inputs of the kind it was trained on. numpy only: QGIS loads this module
without torch.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MERGED_CLASSES = ("water", "forest", "field", "impervious")
"""The merged taxonomy (the paper's Table S1): class code = position in this tuple."""
NODATA = 255
"""Nodata / ignore code of every class raster and label array."""
NAIP_BANDS = ("red", "green", "blue", "nir")
"""Default band order of a model's input."""
STANDARDISATIONS = ("dataset", "tile")
"""Where a model's input statistics come from: the card's mean/std (``dataset``, the default) or each
tile's own per-band mean/std (``tile``: a flight's gain and offset cancel out)."""
MIN_TILE_STD = 0.01
"""Floor of every measured per-band std (pixel / 255 units, 2.5 grey levels): a tile's, a raster's, drawn
areas'. One floor for every path, so a uniform patch is not divided by 0 and no path amplifies noise more."""
INPUT_STATISTICS = ("auto", "image", "model")
"""Which per-band statistics standardise a raster at inference (``segment``'s INPUT_STATISTICS):

* ``model``: the card's contract as trained (its mean/std, or each tile's own for ``tile`` cards);
* ``image``: the classified region's own mean/std, measured once before tiling and used for every
  tile (no seams), so a new flight's gain and offset are undone;
* ``auto``: :func:`statistics_source` decides from the card."""


def normalise(pixels: np.ndarray, valid: np.ndarray | None, mean: Sequence[float],
              std: Sequence[float]) -> np.ndarray:
    """Raw pixels → network input: ``(pixel / 255 - mean) / std``, and 0.0 where ``valid`` is False.

    Pixels without data become 0, the training mean, so nodata does not disturb its neighbours'
    predictions (a raw 0 would become ``-mean / std``, a value the network sees nowhere else).

    Args:
        pixels: (bands, H, W) raw values (uint8 for NAIP-like imagery).
        valid: (H, W) bool, True where the image has data; None when every pixel has.
        mean: Per-band mean of pixel / 255 (the model card's).
        std: Per-band standard deviation of pixel / 255 (the model card's).

    Returns:
        (bands, H, W) float32, a new array.
    """
    bands = pixels.shape[0]
    if not len(mean) == len(std) == bands:
        raise ValueError(f"normalise: {bands} bands but {len(mean)} means and {len(std)} stds")
    offset = (np.asarray(mean, np.float32) * np.float32(255)).reshape(-1, 1, 1)  # (bands, 1, 1)
    scale = (np.float32(1) / (np.asarray(std, np.float32) * np.float32(255))).reshape(-1, 1, 1)
    out = np.subtract(pixels, offset, dtype=np.float32)  # (bands, H, W)
    out *= scale
    if valid is not None and not valid.all():
        out[:, ~valid] = 0.0
    return out


def has_data(pixels: np.ndarray) -> np.ndarray:
    """(H, W) validity of stored chips written before they carried a mask: some band above 0."""
    return pixels.max(axis=0) > 0


def tile_statistics(pixels: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of ``pixels / 255`` over the valid pixels (std floored at :data:`MIN_TILE_STD`).

    The one statistics rule: a tile's, a raster's sample (``segment``'s ``image`` statistics) and
    drawn areas' (finetune) all come from here. Pixels may be any (bands, ...) shape; ``valid``
    selects over the trailing axes. A tile without a valid pixel gets mean 0 and std 1 (its input
    is all zeros anyway).
    """
    values = pixels.reshape(pixels.shape[0], -1) if valid is None else pixels[:, valid]  # (bands, N)
    if values.shape[1] == 0:
        return np.zeros(pixels.shape[0]), np.ones(pixels.shape[0])
    scaled = values.astype(np.float64) / 255.0
    return scaled.mean(axis=1), np.maximum(scaled.std(axis=1), MIN_TILE_STD)


def byte_histograms(pixels: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """(bands, 256) counts of each Byte value over the valid pixels of (bands, H, W) uint8 ``pixels``.

    Summed over chips, these give :func:`histogram_statistics` without holding a float copy of them all.
    """
    counts = np.zeros((pixels.shape[0], 256), np.int64)
    for band in range(pixels.shape[0]):
        values = pixels[band] if valid is None else pixels[band][valid]
        counts[band] = np.bincount(values.ravel(), minlength=256)
    return counts


def histogram_statistics(histograms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`tile_statistics`'s numbers (the same std floor) from (bands, 256) counts of Byte values.

    Exact and constant in memory: the statistics of a large region are the sums of its parts'
    histograms, with no float64 copy of the pixels (which over a 20 km drawn area took 13 GB).
    """
    total = histograms.sum(axis=1)
    if histograms.shape[1] == 0 or not total.all():
        return np.zeros(histograms.shape[0]), np.ones(histograms.shape[0])
    levels = np.arange(histograms.shape[1], dtype=np.float64) / 255.0
    mean = histograms @ levels / total
    variance = (histograms * (levels[None, :] - mean[:, None]) ** 2).sum(axis=1) / total
    return mean, np.maximum(np.sqrt(variance), MIN_TILE_STD)


def statistics_source(requested: str, standardisation: str) -> str:
    """``image`` or ``model``: where a run's input statistics come from (INPUT_STATISTICS, resolved).

    ``auto`` feeds a model what it learnt from: a model trained on each chip's own statistics
    (card ``tile``) gets the region's own, measured once (the seam-free form of what it saw), and a
    model trained on its dataset's statistics gets those. Measured on the width-16 demo trained on
    dataset statistics (docs/quality.md, "Input statistics"): the image's own statistics won on 2 of 5 scenes
    and lost up to 10 mIoU on the others (a scene's class mix moves its mean as much as a flight
    does), so they are not forced on a model that never saw them.

    Raises:
        ValueError: ``requested`` is not one of :data:`INPUT_STATISTICS`.
    """
    if requested not in INPUT_STATISTICS:
        raise ValueError(f"INPUT_STATISTICS must be one of {', '.join(INPUT_STATISTICS)} (got {requested!r})")
    if requested == "auto":
        return "image" if standardisation == "tile" else "model"
    return requested


def model_input(pixels: np.ndarray, valid: np.ndarray | None, mean: Sequence[float], std: Sequence[float],
                standardisation: str = "dataset") -> np.ndarray:
    """:func:`normalise` with the statistics a model's card asks for (see :data:`STANDARDISATIONS`).

    ``tile`` replaces the card's mean/std by the tile's own, so training chips and inference tiles
    are standardised alike whatever the flight's radiometry; ``dataset`` is :func:`normalise` itself.
    """
    if standardisation == "tile":
        tile_mean, tile_std = tile_statistics(pixels, valid)
        return normalise(pixels, valid, tile_mean.tolist(), tile_std.tolist())
    if standardisation != "dataset":
        raise ValueError(f"standardisation must be one of {', '.join(STANDARDISATIONS)} (got {standardisation!r})")
    return normalise(pixels, valid, mean, std)
