"""What training needs to know about a chip dataset, read once from ``dataset.json`` and ``index.csv``.

Every consumer of a dataset (chip loader, exemplars, model card, oracle) starts here, so a folder
that is not a finished Low2High dataset, or a split that does not exist, is refused with one clear
sentence before anything is loaded.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ...core.errors import Low2HighError
from ...engine.labels.classes import MERGED_NAMES
from .chips import DATASET_FILE, FORMAT_NAME, INDEX_FILE, read_index
from .splits import REGION_PREFIX

ALL_SPLITS = "all"
"""Split name meaning every chip of the dataset (e.g. for self-supervised pretraining)."""


@dataclass(frozen=True)
class DatasetInfo:
    """The facts of a chip dataset that training, evaluation and model cards use.

    Attributes:
        folder: Absolute dataset folder.
        factor: n, the side of a coarse cell in image pixels.
        chip_size: Side S of the (square) chips, a multiple of ``factor``.
        band_names: Image bands in array order.
        mean, std: Per-band normalisation in pixel / 255 units (train split statistics).
        gsd: Image ground sample distance in metres.
        class_names: The merged taxonomy's class names.
        splits: Chips per split, as recorded by the builder.
    """

    folder: str
    factor: int
    chip_size: int
    band_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    gsd: float
    class_names: tuple[str, ...]
    splits: dict[str, int]

    @property
    def num_bands(self) -> int:
        return len(self.band_names)

    @property
    def coarse_size(self) -> int:
        return self.chip_size // self.factor


def read_dataset_info(folder: str) -> DatasetInfo:
    """Read and check ``dataset.json`` of a dataset written by ``build-dataset``.

    Raises:
        Low2HighError: the folder is not a complete Low2High chip dataset, or lacks the
            normalisation statistics (no chip went to the train split).
    """
    path = os.path.join(folder, DATASET_FILE)
    if not os.path.exists(path):
        raise Low2HighError(f"'{folder}' is not a Low2High dataset (no {DATASET_FILE}); build one with "
                            "`python -m low2high.train build-dataset`.")
    try:
        with open(path, encoding="utf-8") as handle:
            description = json.load(handle)
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        raise Low2HighError(f"{path} cannot be read ({error}); run the same build-dataset command again to rewrite "
                            "it.") from error
    if not isinstance(description, dict):
        raise Low2HighError(f"{path} does not describe a Low2High chip dataset; build one with "
                            "`python -m low2high.train build-dataset`.")
    if description.get("format") != FORMAT_NAME:
        raise Low2HighError(f"{path} does not describe a Low2High chip dataset (format "
                            f"{description.get('format')!r}).")
    if not description.get("complete") or not os.path.exists(os.path.join(folder, INDEX_FILE)):
        raise Low2HighError(f"The dataset in '{folder}' is unfinished (its build was interrupted); run the same "
                            "build-dataset command again to complete it.")
    normalisation = description.get("normalisation") or {}
    mean, std = normalisation.get("mean"), normalisation.get("std")
    if not mean or not std:
        raise Low2HighError(f"The dataset in '{folder}' has no normalisation statistics (no chip went to its train "
                            "split); rebuild it with a train share above 0.")
    try:
        return _dataset_info(folder, description, mean, std)
    except (KeyError, TypeError, ValueError) as error:
        raise Low2HighError(f"{path} is damaged (its entry {error} is missing or wrong); run the same build-dataset "
                            "command again to rewrite it.") from None


def _dataset_info(folder: str, description: dict[str, Any], mean: Sequence[float], std: Sequence[float]) -> DatasetInfo:
    """The :class:`DatasetInfo` of a parsed ``dataset.json`` (KeyError, TypeError or ValueError when damaged)."""
    std = [value if value > 0 else 1.0 for value in std]  # a constant band: leave it unscaled
    image = description.get("image", {})
    return DatasetInfo(folder=os.path.abspath(folder), factor=int(description["factor"]),
                       chip_size=int(description["chip_size"]), band_names=tuple(image.get("band_names", ())),
                       mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
                       gsd=float(image.get("gsd", 1.0)),
                       class_names=tuple(description.get("classes", MERGED_NAMES)),
                       splits=dict(description.get("splits", {})))


def split_names(splits: Sequence[str], regions: Sequence[str] = ()) -> list[str]:
    """Split names from a config: ``splits`` as given plus ``region:<name>`` for each region."""
    names = [name.strip() for name in splits if name.strip()]
    names += [name if name.startswith(REGION_PREFIX) else REGION_PREFIX + name.strip()
              for name in regions if name.strip()]
    return names


def select_chips(info: DatasetInfo, splits: Sequence[str], what: str = "chips") -> list[dict[str, Any]]:
    """The index rows of the chips in ``splits`` ("all" = every chip), in index order.

    Raises:
        Low2HighError: a split the dataset does not have, or no chip at all.
    """
    if not splits:
        raise Low2HighError(f"No split was given for the {what}.")
    rows = list(read_index(info.folder))
    if ALL_SPLITS in splits:
        chosen = rows
    else:
        known = sorted(set(info.splits) | {row["split"] for row in rows})
        unknown = [name for name in splits if name not in known]
        if unknown:
            needed = f" for the {what}" if what != "chips" else ""
            raise Low2HighError(f"The dataset has no split {', '.join(repr(n) for n in unknown)}{needed}; it has: "
                                f"{', '.join(known) or 'none'} (or '{ALL_SPLITS}').")
        wanted = set(splits)
        chosen = [row for row in rows if row["split"] in wanted]
    if not chosen:
        needed = f" (needed for the {what})" if what != "chips" else ""
        raise Low2HighError(f"The split(s) {', '.join(splits)} of '{info.folder}' hold no chip{needed}.")
    return chosen


def has_labels(row: dict[str, Any], source: str) -> bool:
    """Whether a chip's ``fine`` or ``coarse`` labels hold at least one class pixel (index counts)."""
    return sum(row[f"{source}_{name}"] for name in MERGED_NAMES) > 0


def training_crop(info: DatasetInfo, requested: Optional[int], multiple: int = 32) -> int:
    """The side of training crops: whole coarse cells that the U-Net can also take.

    A crop must hold whole n x n cells (region aggregation sums whole cells) and be a multiple of
    32 (the U-Net downsamples 32x), i.e. a multiple of lcm(n, 32): 480 for n = 30. The default is
    the largest such crop inside a chip; when none fits (n = 50: lcm 800 > 500), it is 0, meaning
    "whole chips, padded to a multiple of 32 for the network and cropped back".

    Raises:
        Low2HighError: a requested crop that is not such a multiple or larger than the chips.
    """
    step = math.lcm(info.factor, multiple)
    if requested is None:
        return info.chip_size // step * step
    if requested == 0:
        return 0
    if requested % step or requested > info.chip_size:
        largest = info.chip_size // step * step
        hint = f"use {largest}" if largest else "use 0 (whole chips, padded)"
        raise Low2HighError(f"crop {requested} must be a multiple of {step} (lcm of the coarse cell side "
                            f"{info.factor} and 32) no larger than the chips ({info.chip_size}); {hint}.")
    return requested
