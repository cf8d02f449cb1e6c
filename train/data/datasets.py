"""Chips as training and evaluation samples: normalised images with their fine and coarse labels.

Chips are S x S with S a multiple of the coarse cell side n (510 for n = 30), but the U-Net wants
multiples of 32, so training takes square crops whose side is a multiple of lcm(n, 32) (480) at
offsets that are whole cells, which keeps the coarse labels exactly the crop's cells; evaluation
takes whole chips and :mod:`.predict` pads them. Random flips and quarter turns (label-preserving
for overhead imagery) move image, fine and coarse labels together.

Every random choice of a sample is drawn from a generator seeded by (seed, epoch, chip), so a
sample does not depend on the worker that loads it, nor on whether the run was resumed.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from ...core.contract import has_data, model_input
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress
from .chips import load_chip
from .info import DatasetInfo, has_labels, read_dataset_info, select_chips
from .photometric import photometric

DEFAULT_CACHE_MB = 4096
"""Chips are kept in memory (as uint8) when the selection is at most this large."""


def augment_arrays(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random quarter turn and horizontal flip of several (..., H, W) arrays.

    The 8 results are the symmetries of a square; for square crops made of whole cells they keep
    fine pixels and coarse cells in correspondence.
    """
    turns, flip = int(rng.integers(4)), bool(rng.integers(2))
    result = []
    for array in arrays:
        array = np.rot90(array, turns, axes=(-2, -1))
        result.append(np.ascontiguousarray(array[..., ::-1] if flip else array))
    return result


class ChipDataset(Dataset):
    """The chips of some splits of a dataset, as normalised samples.

    A sample is a dict of numpy arrays (the default collate makes tensors of them): ``image``
    float32 (bands, H, W) made by :func:`~low2high.core.contract.normalise` (the one input
    contract of training and inference) with the dataset's train statistics or the given
    ``normalisation``; ``fine`` int64 (H, W) and ``coarse`` int64 (H / n, W / n), 255 = ignore;
    ``valid`` bool (H, W), True where the image has data (the chip's stored mask; chips from
    before masks were stored: some band above 0); ``index`` the chip's position in :attr:`rows`.

    Args:
        folder: Dataset folder (``build-dataset`` output).
        splits: Split names, ``region:<name>`` splits, or "all".
        crop: Side of random square crops (training); None for whole chips (evaluation).
        augment: Random flips and quarter turns.
        align: Crop offsets are multiples of this (default n, which keeps the coarse labels
            exact; 1 for image-only use such as pretraining).
        labels: Return ``fine`` / ``coarse`` (False: images only).
        require: Skip chips without a single "coarse" (or "fine") label pixel; None keeps all.
        cache_mb: Keep the chips in memory when they take at most this many megabytes.
        seed: Seed of crops and augmentation.
        progress: Receives a warning naming the skipped chips.
        normalisation: (mean, std) of pixel / 255 per band, e.g. a model card's when scoring a
            model; None: the dataset's train statistics.
        standardisation: "dataset" (``normalisation``) or "tile" (each sample's own statistics),
            as the model card says (:func:`~low2high.core.contract.model_input`).
        photometric: Strength of the photometric augmentation (:mod:`.photometric`; 0: off).
        raw_coarse: Also return ``coarse_raw`` (the raw coarse codes of each cell, int64, 65535 =
            none) for distribution targets; chips built before it was stored are refused.

    Raises:
        Low2HighError: unknown splits, a crop larger than the chips or not made of whole cells,
            or no chip with the required labels.
    """

    def __init__(self, folder: str, splits: Sequence[str], crop: Optional[int] = None, augment: bool = False, *,
                 align: Optional[int] = None, labels: bool = True, require: Optional[str] = "coarse",
                 cache_mb: float = DEFAULT_CACHE_MB, seed: int = 0, progress: Optional[Progress] = None,
                 normalisation: Optional[tuple[Sequence[float], Sequence[float]]] = None,
                 standardisation: str = "dataset", photometric: float = 0.0, raw_coarse: bool = False) -> None:
        progress = progress or SilentProgress()
        self.info: DatasetInfo = read_dataset_info(folder)
        self.splits = list(splits)
        self.crop = crop or None
        self.augment = augment
        self.align = self.info.factor if align is None else align
        self.labels = labels
        self.standardisation, self.photometric, self.raw_coarse = standardisation, photometric, raw_coarse
        self.seed = seed
        self.epoch = 0
        self._check_crop()
        rows = select_chips(self.info, self.splits)
        self.rows = [row for row in rows if require is None or has_labels(row, require)]
        self.skipped = len(rows) - len(self.rows)
        if not self.rows:
            raise Low2HighError(f"None of the {len(rows)} chips of {', '.join(self.splits)} holds a single {require} "
                                "label (all are nodata); choose other splits or rebuild the dataset.")
        if self.skipped:
            progress.warn(f"{self.skipped} of {len(rows)} chips of {', '.join(self.splits)} hold no {require} label "
                          "and are skipped.")
        self.mean, self.std = normalisation if normalisation is not None else (self.info.mean, self.info.std)
        self._keys: tuple[str, ...] = ("image", "fine", "coarse") if labels else ("image",)
        if labels and raw_coarse:
            self._keys += ("coarse_raw",)
        self._cache: Optional[list[dict[str, np.ndarray]]] = None
        if self.nbytes() <= cache_mb * 2 ** 20:
            self._cache = [self._load(index) for index in range(len(self.rows))]

    def _check_crop(self) -> None:
        size, factor = self.info.chip_size, self.info.factor
        if self.crop is None:
            return
        if self.crop > size:
            raise Low2HighError(f"The crop side {self.crop} is larger than the chips ({size} px).")
        if self.labels and (self.crop % factor or self.align % factor):
            raise Low2HighError(f"Crops with labels must hold whole coarse cells: side and offsets multiples of "
                                f"{factor} (got side {self.crop}, offsets of {self.align}).")

    def nbytes(self) -> int:
        """Memory the selected chips take as uint8 arrays."""
        size = self.info.chip_size
        per_chip = self.info.num_bands * size * size
        if self.labels:
            per_chip += size * size + self.info.coarse_size ** 2 * (3 if self.raw_coarse else 1)
        return per_chip * len(self.rows)

    @property
    def cached(self) -> bool:
        return self._cache is not None

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's crops and augmentations (call before iterating a loader)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _load(self, index: int) -> dict[str, np.ndarray]:
        path = self.rows[index]["path"]
        arrays = load_chip(path, self._keys + ("valid",), optional=("valid", "coarse_raw"))
        if self.raw_coarse and "coarse_raw" not in arrays:
            raise Low2HighError(f"'{path}' holds no raw coarse codes (it was built before they were stored); "
                                "rebuild the dataset into a new folder to train with distribution targets.")
        if "valid" not in arrays:
            arrays["valid"] = has_data(arrays["image"])
        return arrays

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """The chip's raw uint8 arrays (from memory when cached)."""
        return self._cache[index] if self._cache is not None else self._load(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        arrays = self.arrays(index)
        parts = [arrays[key] for key in ("image", "valid") + self._keys[1:]]  # image, valid(, fine, coarse(, raw))
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.crop is not None:
            parts = self._random_crop(parts, rng)
        if self.augment:
            parts = augment_arrays(parts, rng)
        image, valid = parts[0], parts[1].astype(bool)
        if self.photometric > 0:
            image = photometric(image, rng, self.photometric)
        sample: dict[str, Any] = {"image": model_input(image, valid, self.mean, self.std, self.standardisation),
                                  "valid": valid, "index": index}
        if self.labels:
            sample["fine"] = parts[2].astype(np.int64)
            sample["coarse"] = parts[3].astype(np.int64)
        if len(parts) > 4:
            sample["coarse_raw"] = parts[4].astype(np.int64)
        return sample

    def _random_crop(self, parts: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        """The same crop of every part: image-grid parts by pixels, the coarse labels by cells."""
        size, crop, factor = self.info.chip_size, self.crop, self.info.factor
        assert crop is not None  # only called when cropping
        positions = (size - crop) // self.align + 1
        top, left = (int(value) * self.align for value in rng.integers(positions, size=2))
        cropped = [part[..., top:top + crop, left:left + crop] for part in parts[:3]]
        cells = (slice(top // factor, (top + crop) // factor), slice(left // factor, (left + crop) // factor))
        return cropped + [part[cells] for part in parts[3:]]  # coarse labels (and raw codes) by cells

