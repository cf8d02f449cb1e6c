"""How much of the drawn areas a fine-tuning run holds in memory, and which chips when they hold more.

A run keeps its chips in memory (every step draws a batch from them and every validation reads the
held-out ones), so memory grew with the drawn area: 2.3 GB over a 5 × 5 km polygon, and a 20 × 20 km
one was killed at 23.6 GB. The chips held are now bounded by a budget in MB (2**20 bytes): the
``chip_memory_mb`` setting, else the environment variable :data:`BUDGET_ENV` (QGIS users set it
there), else :data:`DEFAULT_BUDGET_MB`. Before any pixel is read, the log states the estimate
(chips, blocks inside the polygons, MB) against the budget.

When the areas hold more chips than the budget, a **seeded sample** of chips is read, not chips
streamed from disk. Why: a run's cost is not only its memory. The agreement before and after, and
every validation, predict over the chips held; with chips streamed from disk a 20 × 20 km polygon
(some 5,600 chips of 270 px) would cost its memory back in hours of prediction on a 2-core CPU and re-read
every chip each time. A few hundred MB of chips (some 700 chips, 60,000 blocks of 30 m) is already
far more supervision than STEPS × BATCH_SIZE chips (800 at the defaults) can use, so a sample loses
nothing the steps would have seen, and the held-out blocks remain a fair sample of the areas. The
sample is spread over every polygon in proportion to its blocks (each polygon gets at least one
chip while the budget allows), and within a polygon chips are drawn systematically along its rows
with probability proportional to their blocks, from a start the run's SEED sets: evenly over the
polygon, never clustered in one corner, and the same chips for the same seed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...core.errors import Low2HighError
from ...engine.geo.grid import Grid, Window
from ...engine.geo.mask import PolygonMask
from ...engine.labels.alignment import block_grid
from .areas import Areas, chip_windows

BUDGET_ENV = "LOW2HIGH_FINETUNE_CHIP_MB"
DEFAULT_BUDGET_MB = 256.0
"""A few hundred MB: some 700 chips of 270 px with 4 bands, ample for the default 200 steps of 4 chips."""
MB = 2 ** 20

ChipKey = tuple[int, int]
"""A chip's (row, col) on the chip grid anchored at the image's corner (:func:`.areas.chip_windows`)."""


@dataclass
class ChipPlan:
    """The chips a run reads, and the estimate the log states before any pixel is read.

    Attributes:
        windows: The chips to read, in row-major order.
        touching: Chips touching the areas (what holding everything would read).
        blocks_read: Blocks whose centre lies inside a polygon in the chips read, and ``blocks`` in all
            chips: estimates of the usable blocks (nodata in the image or the labels shows only when read).
        chip_bytes: Memory one chip takes once read.
        budget_mb: The budget, and ``source``: where it came from.
        polygons: How many polygons the areas hold.
    """

    windows: list[Window]
    touching: int
    blocks_read: int
    blocks: int
    chip_bytes: int
    budget_mb: float
    source: str
    polygons: int

    @property
    def sampled(self) -> bool:
        return len(self.windows) < self.touching

    def describe(self, side: int, block_metres: float) -> str:
        """The log's estimate line: chips, blocks and MB against the budget, and what is read."""
        whole = self.touching * self.chip_bytes / MB
        line = (f"Memory for chips: budget {self.budget_mb:,.0f} MB ({self.source}). The areas touch "
                f"{self.touching:,} chip(s) of {side} px with about {self.blocks:,} blocks of {block_metres:.4g} m "
                f"inside the polygons: {whole:,.0f} MB")
        if not self.sampled:
            return line + ", within the budget: every chip is held."
        held = len(self.windows) * self.chip_bytes / MB
        return (line + f", over the budget: a seeded sample of {len(self.windows):,} chips (about "
                f"{self.blocks_read:,} blocks, {held:,.0f} MB), spread over the {self.polygons} polygon(s) in "
                f"proportion to their blocks, is held and the rest is not read. Set {BUDGET_ENV} (or "
                "chip_memory_mb) to hold more.")


def resolve_budget(setting: Optional[float]) -> tuple[float, str]:
    """The chip budget in MB and where it came from: the setting, :data:`BUDGET_ENV`, or the default.

    Raises:
        Low2HighError: :data:`BUDGET_ENV` is set but not a number of MB above 0.
    """
    if setting is not None:
        return float(setting), "chip_memory_mb"
    text = os.environ.get(BUDGET_ENV, "").strip()
    if not text:
        return DEFAULT_BUDGET_MB, f"the default; {BUDGET_ENV} or chip_memory_mb changes it"
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise Low2HighError(f"{BUDGET_ENV} must be a number of MB above 0 (got '{text}'); unset it for the default "
                            f"{DEFAULT_BUDGET_MB:g} MB.")
    return value, BUDGET_ENV


def chip_bytes(side: int, factor: int, bands: int, raw_codes: bool) -> int:
    """Memory of one chip held: pixels and validity per pixel; class, role (and raw code) per block."""
    blocks = (side // factor) ** 2
    return side * side * (bands + 1) + blocks * (2 + (2 if raw_codes else 0))


def polygon_blocks(image: Grid, areas: Areas, factor: int, side_blocks: int) -> list[dict[ChipKey, int]]:
    """Per polygon, its blocks (centre inside) per chip: one rasterisation on the block grid each.

    The block grid is ``factor``² times smaller than the image's, so a 20 km polygon over 1 m pixels
    costs a 667 × 667 mask, not a read of the image.
    """
    blocks = block_grid(image, factor)
    counts: list[dict[ChipKey, int]] = []
    for wkt, envelope in zip(areas.wkt, areas.envelopes):
        window = blocks.window_for_bounds(*envelope)
        if window is None:
            counts.append({})
            continue
        rows, cols = np.nonzero(PolygonMask([wkt], image.crs_wkt).rasterize(blocks, window))
        keys = np.stack([(rows + window.row) // side_blocks, (cols + window.col) // side_blocks], axis=1)
        unique, number = np.unique(keys, axis=0, return_counts=True)
        counts.append({(int(row), int(col)): int(count) for (row, col), count in zip(unique, number)})
    return counts


def allocate(weights: np.ndarray, available: np.ndarray, capacity: int) -> np.ndarray:
    """Chips per polygon: ``capacity`` shared in proportion to ``weights``, at most ``available`` each.

    Every polygon with blocks first gets one chip while the capacity allows (a small polygon drawn
    on purpose is not left out), the rest in proportion; a polygon with fewer chips than its share
    passes the excess on.
    """
    counts = np.zeros(len(weights), np.int64)
    active = np.flatnonzero((weights > 0) & (available > 0))
    if capacity >= len(active):
        counts[active] = 1
    else:
        counts[active[np.argsort(-weights[active], kind="stable")[:capacity]]] = 1
    remaining = capacity - int(counts.sum())
    while remaining > 0:
        room = available - counts
        open_ = (room > 0) & (weights > 0)
        if not open_.any():
            break
        share = np.where(open_, weights, 0).astype(np.float64)
        extra = np.minimum(room, np.floor(remaining * share / share.sum())).astype(np.int64)
        if extra.sum() == 0:  # fewer chips left than open polygons: the heaviest first
            extra[int(np.argmax(share))] = 1
        counts += extra
        remaining -= int(extra.sum())
    return counts


def systematic_sample(weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """About ``count`` indices, each with probability proportional to its weight, evenly along the order.

    Systematic sampling: ``count`` points ``step`` apart from a seeded start on the cumulative weight;
    an item heavier than ``step`` may be hit twice and is taken once.
    """
    cumulative = np.cumsum(weights, dtype=np.float64)
    step = cumulative[-1] / count
    points = rng.uniform(0, step) + step * np.arange(count)
    return np.unique(np.minimum(np.searchsorted(cumulative, points, side="right"), len(weights) - 1))


def plan_chips(image: Grid, areas: Areas, side: int, factor: int, bands: int, raw_codes: bool,
               budget_setting: Optional[float], seed: int) -> ChipPlan:
    """Which chips of ``side`` px to read: all of them within the budget, else a seeded sample.

    Raises:
        Low2HighError: the budget is smaller than one chip.
    """
    budget_mb, source = resolve_budget(budget_setting)
    windows = chip_windows(image, areas, side)
    per_polygon = polygon_blocks(image, areas, factor, side // factor)
    per_chip: dict[ChipKey, int] = {}
    for counts in per_polygon:
        for key, number in counts.items():
            per_chip[key] = per_chip.get(key, 0) + number
    size = chip_bytes(side, factor, bands, raw_codes)
    blocks = sum(per_chip.values())
    plan = ChipPlan(windows, len(windows), blocks, blocks, size, budget_mb, source, len(areas.wkt))
    if len(windows) * size <= budget_mb * MB:
        return plan
    capacity = int(budget_mb * MB // size)
    if capacity < 1:
        raise Low2HighError(f"The memory budget for chips ({budget_mb:g} MB, {source}) does not hold one chip of "
                            f"{side} px ({size / MB:.2f} MB): raise {BUDGET_ENV} or chip_memory_mb.")
    rng = np.random.default_rng([seed, 0xC41])
    weights = np.array([sum(counts.values()) for counts in per_polygon], np.float64)
    available = np.array([len(counts) for counts in per_polygon], np.int64)
    chosen: set[ChipKey] = set()
    for counts, number in zip(per_polygon, allocate(weights, available, capacity)):
        if number == 0:
            continue
        keys = sorted(counts)
        picked = systematic_sample(np.array([counts[key] for key in keys], np.float64), int(number), rng)
        chosen.update(keys[index] for index in picked)
    plan.windows = [Window(col * side, row * side, side, side) for row, col in sorted(chosen)]
    plan.blocks_read = sum(per_chip[key] for key in chosen)
    return plan
