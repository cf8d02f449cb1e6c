"""High-resolution label exemplars for the discriminator: what fine label maps look like (Sec. 4.4).

The adversarial term only needs examples of realistic fine-grained label maps, with no
correspondence to the training images: random square crops of high-resolution labels in the
merged taxonomy, taken either from the ``fine`` labels of some dataset splits (e.g. ``held-out``)
or from any class raster on disk (e.g. Chesapeake land cover remapped with ``low2high:remap``),
read window by window so the raster may be of any size. Crops get random flips and quarter turns.

A crop that is entirely nodata is never used. Crops with some nodata are avoided (a real map with
holes would teach the discriminator that holes mean "real"); when a source offers few complete
crops, a mostly labelled one is taken with its holes filled by its most frequent class.
"""
from __future__ import annotations

import os
from typing import Optional, Protocol, Sequence

import numpy as np

from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress
from ...engine.geo.grid import Window
from ...engine.geo.raster_io import RasterSource
from ...engine.geo.resample import ground_sample_distance
from ...engine.labels.classes import MERGED_NAMES, NODATA, check_class_codes
from ...engine.labels.rasters import WINDOW_SIZE, iter_windows, read_labels, require_integer_labels
from .chips import load_chip
from .datasets import augment_arrays
from .info import has_labels, read_dataset_info, select_chips

DEFAULT_CROP = 256
"""The discriminator's input side in the paper (Table S6)."""
COMPLETE_ATTEMPTS = 32
"""Draws spent looking for a crop without nodata before accepting one with a few holes."""
MAX_ATTEMPTS = 256
"""Draws after which a source is declared (almost) empty."""
MAX_HOLE_SHARE = 0.5
"""Largest share of nodata in a crop that may be filled and used."""


class _Reader(Protocol):
    def draw(self, crop: int, rng: np.random.Generator) -> np.ndarray:
        """A random crop × crop window of merged labels (uint8, 255 = nodata)."""


def check_merged_codes(codes: np.ndarray, what: str) -> None:
    """Refuse label codes outside the merged taxonomy (0–3 and nodata 255)."""
    check_class_codes(codes, what, "Run low2high:remap on it first (e.g. TAXONOMY=chesapeake) and use the remapped "
                      "raster as exemplars.")


class _ChipLabels:
    """Crops drawn from the fine labels of chips held in memory."""

    def __init__(self, labels: list[np.ndarray]) -> None:
        self.labels = labels

    def draw(self, crop: int, rng: np.random.Generator) -> np.ndarray:
        chip = self.labels[int(rng.integers(len(self.labels)))]
        top, left = (int(rng.integers(side - crop + 1)) for side in chip.shape)
        return chip[top:top + crop, left:left + crop]


class _RasterLabels:
    """Crops read from a class raster by random windows (GDAL caches the blocks it reads)."""

    def __init__(self, source: RasterSource, band: int) -> None:
        self.source, self.band = source, band

    def draw(self, crop: int, rng: np.random.Generator) -> np.ndarray:
        grid = self.source.grid
        col, row = int(rng.integers(grid.width - crop + 1)), int(rng.integers(grid.height - crop + 1))
        codes, valid = read_labels(self.source, Window(col, row, crop, crop), self.band)
        labels = codes.astype(np.uint8)  # checked to hold 0–3 and 255 only (plus masked pixels)
        labels[~valid] = NODATA
        return labels


class ExemplarSource:
    """Random high-resolution label crops with no correspondence to the training images.

    Build one with :meth:`from_dataset` or :meth:`from_raster`; :meth:`sample` draws a batch.

    Attributes:
        crop: Side of the crops (the discriminator's input size).
        description: Where the exemplars come from (recorded in the model card).
    """

    def __init__(self, reader: _Reader, crop: int, description: str) -> None:
        self._reader = reader
        self.crop = crop
        self.description = description

    @classmethod
    def from_dataset(cls, folder: str, splits: Sequence[str], crop: int = DEFAULT_CROP,
                     progress: Optional[Progress] = None) -> "ExemplarSource":
        """Exemplars from the ``fine`` labels of a dataset's splits or regions (kept in memory).

        Raises:
            Low2HighError: no chip with fine labels, chips smaller than the crop, or codes
                outside the merged taxonomy.
        """
        progress = progress or SilentProgress()
        info = read_dataset_info(folder)
        rows = select_chips(info, splits, "exemplars")
        usable = [row for row in rows if has_labels(row, "fine")]
        if not usable:
            raise Low2HighError(f"The exemplar set is empty: no chip of {', '.join(splits)} in '{folder}' holds a "
                                "fine label.")
        if crop > info.chip_size:
            raise Low2HighError(f"The exemplar crop ({crop} px) is larger than the chips ({info.chip_size} px); "
                                "choose a smaller exemplar crop.")
        labels = [load_chip(row["path"], ["fine"])["fine"] for row in usable]
        for row, chip in zip(usable, labels):
            check_merged_codes(chip, f"The fine labels of chip {row['chip']}")
        if len(usable) < len(rows):
            progress.warn(f"{len(rows) - len(usable)} exemplar chips hold no fine label and are skipped.")
        return cls(_ChipLabels(labels), crop, f"fine labels of {len(usable)} chips of {', '.join(splits)} in "
                                              f"{os.path.basename(info.folder)}")

    @classmethod
    def from_raster(cls, path: str, crop: int = DEFAULT_CROP, band: int = 1, gsd: Optional[float] = None,
                    progress: Optional[Progress] = None) -> "ExemplarSource":
        """Exemplars from a class raster in the merged taxonomy (scanned once, then read by windows).

        Args:
            path: Class raster (e.g. Chesapeake land cover after ``low2high:remap``).
            crop: Crop side.
            band: 1-based band holding the classes.
            gsd: The model's pixel size in metres; a raster at another resolution is warned about
                (its shapes would be at the wrong scale for the discriminator).
            progress: Receives the warning.

        Raises:
            Low2HighError: an unreadable or non-integer raster, a raster smaller than the crop,
                codes outside the merged taxonomy, or no class pixel at all.
        """
        progress = progress or SilentProgress()
        source = RasterSource.open(path, "exemplar raster", require_crs=False)
        require_integer_labels(source, f"The exemplar raster '{path}'")
        if not 1 <= band <= source.band_count:
            raise Low2HighError(f"The exemplar raster '{path}' has no band {band} (it has {source.band_count}).")
        grid = source.grid
        if crop > min(grid.width, grid.height):
            raise Low2HighError(f"The exemplar raster '{path}' ({grid.width} × {grid.height} px) is smaller than the "
                                f"exemplar crop ({crop} px).")
        labelled = 0
        for window in iter_windows(grid.width, grid.height, WINDOW_SIZE):
            codes, valid = read_labels(source, window, band)
            check_merged_codes(codes[valid], f"The exemplar raster '{path}'")
            labelled += int(np.count_nonzero(valid & (codes != NODATA)))
        if not labelled:
            raise Low2HighError(f"The exemplar set is empty: '{path}' holds no class pixel (all nodata).")
        raster_gsd = ground_sample_distance(grid)
        if gsd and abs(raster_gsd / gsd - 1) > 0.1:
            progress.warn(f"The exemplar raster's pixels are {raster_gsd:g} m but the model predicts at {gsd:g} m: "
                          "the discriminator will compare shapes at different scales.")
        return cls(_RasterLabels(source, band), crop, f"class raster {os.path.basename(path)} (band {band})")

    def sample(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` random crops, uint8 (count, crop, crop) of classes 0–3 (no nodata).

        Raises:
            Low2HighError: the source yields only nodata crops.
        """
        return np.stack([self._one(rng) for _ in range(count)])

    def _one(self, rng: np.random.Generator) -> np.ndarray:
        for attempt in range(MAX_ATTEMPTS):
            labels = self._reader.draw(self.crop, rng)
            holes = labels == NODATA
            share = holes.mean()
            if share == 0:
                return augment_arrays([labels], rng)[0]
            if attempt >= COMPLETE_ATTEMPTS and share <= MAX_HOLE_SHARE:
                filled = labels.copy()
                filled[holes] = np.bincount(labels[~holes], minlength=len(MERGED_NAMES)).argmax()
                return augment_arrays([filled], rng)[0]
        raise Low2HighError(f"The exemplar set ({self.description}) is almost entirely nodata: {MAX_ATTEMPTS} random "
                            f"{self.crop}-px crops found none at least {1 - MAX_HOLE_SHARE:.0%} labelled.")
