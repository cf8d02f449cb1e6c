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
INPUT_STATISTICS = ("auto", "image", "model", "blend")
"""Which per-band statistics standardise a raster at inference (``segment``'s INPUT_STATISTICS):

* ``model``: the card's contract as trained (its mean/std, or each tile's own for ``tile`` cards);
* ``image``: the classified region's own mean/std, measured once before tiling and used for every
  tile (no seams), so a new flight's gain and offset are undone;
* ``blend``: half the card's, half the region's own (:func:`fed_statistics`), measured and used alike;
* ``auto``: :func:`statistics_source` decides from the card.

``blend`` is last so that QGIS models saved with the earlier three keep their choice's index."""
CARD_STATISTICS = ("model", "blend", "image")
"""What a card may ask ``auto`` to feed its model (``ModelCard.input_statistics``; a ``tile`` card always gets
the image's own). Its makers measured it, as they chose its tile overlap; cards without the field, and
Deepness models, mean ``model``: fed as trained, so segment draws the map Deepness draws."""
BLEND_WEIGHT = 0.5
"""The region's share in ``blend`` statistics (the demo card's choice for ``auto``). A region's own mean
and std carry two things: its flight's gain and offset (to undo) and its class mix (a wooded region
is darker: to keep). Weighed half and half, the demo's maps (3 seeds, docs/quality.md "Input
statistics") gained 2-27 mIoU on rendered flights shifted 0.2-0.3, 0.4-1.1 on the real 2014 patches,
and lost at most 0.4 (an unshifted flight); the region's own alone (weight 1) lost 9 on the real 2014
patches fed one by one, and 0.25 gained less on the shifted flights. Chosen on rendered flights and
the 8 shared real patches together."""
BLEND_FULL_PIXELS = 65_536
"""Valid pixels (256²) a region needs for the full :data:`BLEND_WEIGHT`; smaller ones blend in proportion.
The statistics of a small region are mostly its content (one lawn, one roof): on 64 / 128-px crops of
the rendered flights the full blend lost 2-5 mIoU per crop against the card's statistics, the ramp
within 0.5 of them; on 240-px crops it kept the blend's gain (+5.2 on the flight shifted 0.3)."""


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


def statistics_source(requested: str, standardisation: str, card_choice: str = "model") -> str:
    """``image``, ``model`` or ``blend``: where a run's input statistics come from (INPUT_STATISTICS, resolved).

    ``auto`` feeds a model trained on each chip's own statistics (card ``tile``) the region's own,
    measured once (the seam-free form of what it saw), and any other model what its card asks
    (``card_choice``, one of :data:`CARD_STATISTICS`): its dataset's statistics as trained unless
    its makers measured better. The bundled demo's card asks for ``blend``: the region's own alone
    won on strongly shifted flights and lost up to 10 mIoU on real patches (a scene's class mix
    moves its mean as much as a flight does); its card's alone left a flight shifted 0.3 at 33 mIoU
    where the blend draws 60 (docs/quality.md, "Input statistics"). A ``tile`` card has no
    statistics of its own to blend with: ``blend`` feeds it the region's own, as ``image``.

    Raises:
        ValueError: ``requested`` is not one of :data:`INPUT_STATISTICS`, or ``card_choice`` not one of
            :data:`CARD_STATISTICS`.
    """
    if requested not in INPUT_STATISTICS:
        raise ValueError(f"INPUT_STATISTICS must be one of {', '.join(INPUT_STATISTICS)} (got {requested!r})")
    if card_choice not in CARD_STATISTICS:
        raise ValueError(f"a card's input_statistics must be one of {', '.join(CARD_STATISTICS)} "
                         f"(got {card_choice!r})")
    if standardisation == "tile" and requested in ("auto", "blend"):
        return "image"
    return card_choice if requested == "auto" else requested


def fed_statistics(source: str, model_mean: Sequence[float] | np.ndarray, model_std: Sequence[float] | np.ndarray,
                   image_mean: Sequence[float] | np.ndarray, image_std: Sequence[float] | np.ndarray,
                   pixels: int) -> tuple[list[float], list[float]]:
    """The (mean, std) a run feeds for a resolved ``source`` (:func:`statistics_source`): the card's
    (``model``), the region's own measured on ``pixels`` valid pixels (``image``), or their blend: the
    means weighed by :func:`blend_weight`, the stds likewise in log space (a gain is a factor, so
    halfway between two gains is their geometric mean). Segment's region sample, the benchmarks'
    arrays and finetune's drawn areas all come here."""
    if source == "model":
        return [float(value) for value in model_mean], [float(value) for value in model_std]
    if source == "image":
        return [float(value) for value in image_mean], [float(value) for value in image_std]
    weight = blend_weight(pixels)
    mean = (1 - weight) * np.asarray(model_mean, np.float64) + weight * np.asarray(image_mean, np.float64)
    std = np.exp((1 - weight) * np.log(np.asarray(model_std, np.float64))
                 + weight * np.log(np.asarray(image_std, np.float64)))
    return mean.tolist(), std.tolist()


def blend_weight(pixels: int) -> float:
    """The region's share in ``blend`` statistics measured on ``pixels`` valid pixels: :data:`BLEND_WEIGHT`,
    less in proportion below :data:`BLEND_FULL_PIXELS` (a small region's statistics are mostly its content)."""
    return BLEND_WEIGHT * min(1.0, max(pixels, 0) / BLEND_FULL_PIXELS)


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
