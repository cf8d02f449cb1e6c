"""Chips of the drawn areas with their coarse labels on the n × n block grid, and training batches.

A block teaches the model only when every one of its n × n pixels is inside a polygon, holds image
data and has a label: blocks partly outside the areas, or with nodata in the image or the labels,
are ignored by the loss (label 255), never guessed. A block's class is the majority of the remapped
labels under its pixels (the rule of ``low2high:alignlabels``, the same :func:`block_majority`);
the label raster is seen on the image's pixels by nearest neighbour through a lazily warped view,
so it may be in any CRS and its cells need not line up with the image.

The chips are held in memory within a budget, all of them or a seeded sample when the areas hold
more (:mod:`.budget`, which says why a sample and not streaming).

A share of the usable blocks, in seeded 2 × 2-block groups (so a validation block rarely has a
training block on every side), is set aside for validation.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...core.contract import byte_histograms, histogram_statistics
from ...core.errors import Low2HighError
from ...core.progress import Progress, check_canceled
from ...engine.geo.gdal_scope import gdal_session
from ...engine.geo.grid import Grid, Window
from ...engine.geo.raster_io import RasterSource
from ...engine.geo.resample import ground_sample_distance
from ...engine.geo.views import bounds_in, check_overlap, nearest_view
from ...engine.labels.alignment import block_majority, block_pixels_grid, label_type, resolve_factor
from ...engine.labels.classes import NODATA
from ...engine.labels.rasters import (
    LabelRemapper,
    read_labels,
    require_integer_labels,
    require_single_band,
)
from ...engine.labels.taxonomy import Taxonomy
from ...models.card import ModelCard
from ..data.datasets import augment_arrays
from .areas import Areas, chip_side_blocks
from .budget import plan_chips
from .config import MIN_BLOCKS, MIN_TRAIN_BLOCKS

IGNORED, TRAIN, VALIDATION = 0, 1, 2
GROUP = 2
WHOLE_RATIO_SLACK = 0.25
"""Label / image pixel-size ratios more than this many image pixels (or 2 %) from a whole number are refused:
1.6 m or 8.6 m labels on 1 m pixels are; 29.7 m (NLCD measured through a geographic CRS) is not."""
RAW_NODATA = 65535
"""A block's raw code where it has none (the training module's chip format uses the same value)."""
"""Validation blocks are chosen in GROUP × GROUP squares of the block grid."""


@dataclass
class AreaChips:
    """The drawn areas cut into square chips of whole blocks, held in memory within a budget (:mod:`.budget`).

    Attributes:
        pixels: (N, bands, S, S) raw image values (0 where there is no data).
        valid: (N, S, S) True where the image has data.
        coarse: (N, S/n, S/n) block classes, 255 where a block is ignored.
        role: (N, S/n, S/n) IGNORED, TRAIN or VALIDATION per block.
        windows: Each chip's window on the image grid (may reach past its edges).
        factor: n, the block side in pixels.
        grid: The image's grid.
        raw: (N, S/n, S/n) the raw coarse code of each block (majority), for losses that read what a code
            means (agg-dist); None when the loss needs only the merged class.
        raw_nodata: ``raw``'s value for a block without a code.
    """

    pixels: np.ndarray
    valid: np.ndarray
    coarse: np.ndarray
    role: np.ndarray
    windows: list[Window]
    factor: int
    grid: Grid
    raw: Optional[np.ndarray] = None
    raw_nodata: int = RAW_NODATA

    def __len__(self) -> int:
        return len(self.windows)

    def blocks(self, role: int) -> int:
        return int(np.count_nonzero(self.role == role))

    @property
    def usable_blocks(self) -> int:
        return self.blocks(TRAIN) + self.blocks(VALIDATION)

    def chips_with(self, role: int) -> np.ndarray:
        """Indices of the chips holding at least one block of ``role``."""
        return np.flatnonzero((self.role == role).any(axis=(1, 2)))


def read_area_chips(image_path: str, labels_path: str, taxonomy: Taxonomy, areas: Areas, factor: Optional[int],
                    chip_blocks: Optional[int], bands: int, progress: Progress, raw_codes: bool = False,
                    budget_mb: Optional[float] = None, seed: int = 0) -> AreaChips:
    """Cut the chips of the drawn areas and label their blocks (see the module docstring).

    The chips held fit ``budget_mb`` (:mod:`.budget`: all of them, or a sample seeded by ``seed``);
    the estimate is logged before any pixel is read, and chips are written straight into arrays
    of the planned size, so memory never holds a second copy of them.

    Raises:
        Low2HighError: labels that are not whole-number codes, do not overlap the areas, are finer than
            the image (or of the same pixel size without ``factor``), an image of another band count, a
            budget below one chip, or fewer than :data:`MIN_BLOCKS` usable blocks.
    """
    image = RasterSource.open(image_path, "INPUT raster")
    if image.band_count != bands:
        raise Low2HighError(f"The model takes {bands} bands but INPUT has {image.band_count}; choose imagery with "
                            "the model's bands, or a model made for this imagery.")
    if image.data_type_name != "Byte":
        raise Low2HighError(f"INPUT must be 8-bit imagery (Byte, as NAIP) but is {image.data_type_name}; rescale "
                            "it to Byte first (Raster ▸ Conversion ▸ Translate).")
    labels = RasterSource.open(labels_path, "LOW_RES_LABELS raster")
    require_integer_labels(labels, "LOW_RES_LABELS")
    require_single_band(labels, "LOW_RES_LABELS")  # an image given as labels: its red band read as NLCD codes
    check_overlap(labels.grid, image.grid, "LOW_RES_LABELS", "INPUT")
    _check_covers(labels.grid, image.grid.crs_wkt, areas)
    if factor is None:
        _check_whole_ratio(ground_sample_distance(labels.grid), ground_sample_distance(image.grid))
    factor = resolve_factor(ground_sample_distance(labels.grid), ground_sample_distance(image.grid), factor,
                            progress, "LOW_RES_LABELS", "INPUT")
    side = chip_side_blocks(factor, chip_blocks) * factor
    block_metres = factor * ground_sample_distance(image.grid)
    plan = plan_chips(image.grid, areas, side, factor, bands, raw_codes, budget_mb, seed)
    progress.info(f"Blocks of {factor} × {factor} pixels ({block_metres:.4g} m), chips of {side} px: "
                  f"{plan.touching} chip(s) touch the areas.")
    progress.info(plan.describe(side, block_metres))
    chips = _empty_chips(len(plan.windows), bands, side, factor, image.grid, raw_codes)
    remapper = LabelRemapper(taxonomy, "LOW_RES_LABELS")
    windows: list[Window] = []
    _, nodata = label_type(labels)
    with ExitStack() as stack:
        stack.enter_context(gdal_session())
        view = stack.enter_context(nearest_view(labels_path, block_pixels_grid(image.grid, factor), nodata,
                                                labels.nodata[0], "LOW_RES_LABELS"))
        for window in plan.windows:
            check_canceled(progress)
            chip = _cut(image, view, remapper, areas, window, factor)
            if chip is None:
                continue
            index = len(windows)
            chips.pixels[index], chips.valid[index], chips.coarse[index] = chip[0], chip[1], chip[2]
            if chips.raw is not None:
                chips.raw[index] = chip[3]
            windows.append(window)
    remapper.report(False, progress)
    chips = _first(chips, windows)
    _check_enough(chips.usable_blocks, block_metres)
    return chips


def _empty_chips(count: int, bands: int, side: int, factor: int, grid: Grid, raw_codes: bool) -> AreaChips:
    """Arrays for ``count`` chips, filled as they are read (pages never written are never resident)."""
    blocks = side // factor
    return AreaChips(np.zeros((count, bands, side, side), np.uint8), np.zeros((count, side, side), bool),
                     np.full((count, blocks, blocks), NODATA, np.uint8), np.zeros((count, blocks, blocks), np.uint8),
                     [], factor, grid, np.zeros((count, blocks, blocks), np.uint16) if raw_codes else None)


def _first(chips: AreaChips, windows: list[Window]) -> AreaChips:
    """The chips actually kept (views of the first rows, no copy), their roles TRAIN where a block has a class."""
    count = len(windows)
    coarse = chips.coarse[:count]
    role = np.where(coarse != NODATA, TRAIN, IGNORED).astype(np.uint8)
    raw = chips.raw[:count] if chips.raw is not None else None
    return AreaChips(chips.pixels[:count], chips.valid[:count], coarse, role, windows, chips.factor, chips.grid, raw)


def _check_covers(labels: Grid, crs_wkt: str, areas: Areas) -> None:
    """Refuse labels whose extent misses every polygon (nothing to learn from)."""
    box = bounds_in(labels, crs_wkt)
    if box is None:
        return  # check_overlap has said what it can
    if not any(xmin < box[2] and xmax > box[0] and ymin < box[3] and ymax > box[1]
               for xmin, ymin, xmax, ymax in areas.envelopes):
        raise Low2HighError("LOW_RES_LABELS do not cover any of the AREAS polygons: draw the areas where the coarse "
                            "labels have data, or choose the labels of this place.")


def _check_whole_ratio(label_gsd: float, image_gsd: float) -> None:
    """Refuse labels whose pixels are not (nearly) a whole number of image pixels: blocks would not match cells."""
    ratio = label_gsd / image_gsd
    whole = max(1, round(ratio))
    if ratio > 1.5 and abs(ratio - whole) > max(WHOLE_RATIO_SLACK, 0.02 * ratio):
        raise Low2HighError(f"LOW_RES_LABELS has {label_gsd:.4g} m pixels, {ratio:.3g} × the {image_gsd:.4g} m pixels "
                            f"of INPUT: not a whole number, so its cells cannot be matched with blocks of image "
                            f"pixels. Resample the labels to a whole multiple (e.g. {whole * image_gsd:.4g} m) first.")


def _read_boundless(source: RasterSource, window: Window, fill: int) -> tuple[np.ndarray, np.ndarray]:
    """(bands, H, W) values and (H, W) validity of ``window``, which may reach past the raster."""
    values = np.full((source.band_count, window.height, window.width), fill, np.uint8)
    valid = np.zeros((window.height, window.width), bool)
    inside = window.intersection(source.grid.full_window)
    if inside is not None:
        rows = slice(inside.row - window.row, inside.row_end - window.row)
        cols = slice(inside.col - window.col, inside.col_end - window.col)
        read = source.read(inside)
        values[:, rows, cols] = read
        valid[rows, cols] = source.valid_mask(inside, read)
    return values, valid


def _cut(image: RasterSource, view: RasterSource, remapper: LabelRemapper, areas: Areas, window: Window,
         factor: int) -> Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """One chip: pixels, image validity, block classes (255 = ignored), raw block codes; None if no block is usable."""
    inside = areas.mask.rasterize(image.grid, window)  # (S, S) pixel centres inside a polygon
    if not inside.any():
        return None
    pixels, valid = _read_boundless(image, window, 0)
    pixels[:, ~valid] = 0
    codes = np.full((window.height, window.width), NODATA, np.uint8)
    raw_codes = np.full((window.height, window.width), RAW_NODATA, np.uint16)
    labelled = window.intersection(view.grid.full_window)
    if labelled is not None:
        raw, has_label = read_labels(view, labelled)
        rows = slice(labelled.row - window.row, labelled.row_end - window.row)
        cols = slice(labelled.col - window.col, labelled.col_end - window.col)
        codes[rows, cols] = remapper.remap(raw, has_label)
        raw_codes[rows, cols] = np.where(codes[rows, cols] == NODATA, RAW_NODATA, raw)
    classes = block_majority(codes, factor, NODATA)  # (S/n, S/n)
    complete = _whole_blocks(inside & valid & (codes != NODATA), factor)
    classes[~complete] = NODATA
    if not (classes != NODATA).any():
        return None
    return pixels, valid, classes, block_majority(raw_codes, factor, RAW_NODATA)


def _whole_blocks(mask: np.ndarray, factor: int) -> np.ndarray:
    """(S/n, S/n) True where every pixel of the block is True in the (S, S) ``mask``."""
    rows, cols = mask.shape
    return np.asarray(mask.reshape(rows // factor, factor, cols // factor, factor).all(axis=(1, 3)))


def _check_enough(usable: int, block_metres: float) -> None:
    if usable >= MIN_BLOCKS:
        return
    missing = MIN_BLOCKS - usable
    raise Low2HighError(
        f"The areas hold {usable} usable block(s) of {block_metres:.4g} m × {block_metres:.4g} m (blocks wholly "
        f"inside a polygon, with image data and a label); fine-tuning needs at least {MIN_BLOCKS}. Draw about "
        f"{missing} more block(s) ({missing * block_metres ** 2:,.0f} m², e.g. a square of "
        f"{np.sqrt(missing) * block_metres + 2 * block_metres:.0f} m on a side) where the image and LOW_RES_LABELS "
        "both have data.")


def split_validation(chips: AreaChips, share: float, seed: int, progress: Progress) -> None:
    """Mark about ``share`` of the usable blocks VALIDATION, in seeded GROUP × GROUP squares."""
    chips.role[chips.role == VALIDATION] = TRAIN
    usable = chips.usable_blocks
    if share <= 0:
        return
    if usable - max(1, round(share * usable)) < MIN_TRAIN_BLOCKS:
        progress.warn(f"The areas hold {usable} usable blocks, too few to set {share:.0%} aside for validation and "
                      f"keep {MIN_TRAIN_BLOCKS} for training: no validation, the last step is kept.")
        return
    side = chips.coarse.shape[-1]
    per_row = chips.grid.width // chips.factor + 2 * side  # block columns of the image, with room past the edge
    groups = np.zeros(chips.role.shape, np.int64)
    for index, window in enumerate(chips.windows):
        rows = (window.row // chips.factor + np.arange(side)) // GROUP
        cols = (window.col // chips.factor + np.arange(side)) // GROUP
        groups[index] = rows[:, None] * per_row + cols[None, :]
    candidates = np.unique(groups[chips.role == TRAIN])
    rng = np.random.default_rng([seed, 0x7A1])
    wanted, chosen = round(share * usable), 0
    selected = []
    for group in rng.permutation(candidates):
        if chosen >= wanted:
            break
        members = (groups == group) & (chips.role == TRAIN)
        selected.append(members)
        chosen += int(np.count_nonzero(members))
    for members in selected:
        chips.role[members] = VALIDATION
    if chips.blocks(TRAIN) < MIN_TRAIN_BLOCKS:  # one large group took too much: fall back to no validation
        chips.role[chips.role == VALIDATION] = TRAIN
        progress.warn("Too few blocks would be left for training after the validation share: no validation, the "
                      "last step is kept.")


class BatchSampler:
    """Seeded training batches: chips drawn in proportion to their training blocks, then augmented.

    Every draw comes from a generator seeded by (seed, step), so a run is reproducible.
    """

    def __init__(self, chips: AreaChips, card: ModelCard, batch_size: int, augment: bool, seed: int) -> None:
        self.chips, self.card, self.batch_size, self.augment, self.seed = chips, card, batch_size, augment, seed
        self.candidates = chips.chips_with(TRAIN)
        weights = (chips.role[self.candidates] == TRAIN).sum(axis=(1, 2)).astype(np.float64)
        self.weights = weights / weights.sum()

    def batch(self, step: int) -> dict:
        """The batch of ``step``: image float32, coarse int64 (255 off the training blocks), valid."""
        import torch

        rng = np.random.default_rng([self.seed, step, 0xF1])
        chosen = rng.choice(self.candidates, size=self.batch_size, p=self.weights)
        chips, training = self.chips, self.chips.role[chosen] == TRAIN
        parts = [[self.card.normalise(chips.pixels[i], chips.valid[i]) for i in chosen],  # the network's input
                 list(np.where(training, chips.coarse[chosen], NODATA)), list(chips.valid[chosen])]
        if chips.raw is not None:
            parts.append(list(np.where(training, chips.raw[chosen], chips.raw_nodata)))
        samples = [list(arrays) for arrays in zip(*parts)]
        if self.augment:
            samples = [augment_arrays(arrays, rng) for arrays in samples]
        batch = {key: torch.from_numpy(np.stack([sample[position] for sample in samples]))
                 for position, key in enumerate(("image", "coarse", "valid", "coarse_raw")[:len(parts)])}
        batch["coarse"] = batch["coarse"].long()
        if "coarse_raw" in batch:
            batch["coarse_raw"] = batch["coarse_raw"].long()
        batch["index"] = torch.from_numpy(chosen)
        return batch


def image_statistics(chips: AreaChips) -> tuple[list[float], list[float]]:
    """Per-band mean and std of pixel / 255 over the chips' valid pixels (the 'image' normalisation).

    The same rule (and std floor) as ``segment``'s INPUT_STATISTICS image
    (:func:`~low2high.core.contract.tile_statistics`), summed chip by chip as Byte histograms: a
    float64 copy of every chip took 8 times the chips' own memory.
    """
    counts = np.zeros((chips.pixels.shape[1], 256), np.int64)
    for pixels, valid in zip(chips.pixels, chips.valid):
        counts += byte_histograms(pixels, valid)
    mean, std = histogram_statistics(counts)
    return mean.tolist(), std.tolist()


def describe_blocks(chips: AreaChips, block_metres: float) -> str:
    """One log line: usable, training and validation blocks and their area."""
    area = chips.usable_blocks * block_metres ** 2 / 1e6
    return (f"{chips.usable_blocks:,} usable blocks ({area:.3g} km²) in {len(chips)} chip(s): "
            f"{chips.blocks(TRAIN):,} for training, {chips.blocks(VALIDATION):,} for validation.")

