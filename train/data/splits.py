"""Which split each chip belongs to: seeded random proportions, plus whole regions held out by name.

Random splits of neighbouring chips leak (adjacent chips look alike), so an honest test of
generalisation holds out whole areas: every chip lying entirely inside a named region goes to
the split ``region:<name>``, and chips that straddle a region's border are dropped so that no
training chip shares pixels with it. The remaining chips are shuffled with the seed and cut in
the exact proportions asked (largest remainders), so the same inputs and seed give the same split.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from ...core.errors import Low2HighError
from ...engine.geo.grid import Grid, Window

SPLITS = ("train", "val", "held-out", "test")
REGION_PREFIX = "region:"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_REGION_FORMAT = "NAME:XMIN,YMIN,XMAX,YMAX (image CRS) or NAME:pixels:COL,ROW,WIDTH,HEIGHT"


@dataclass(frozen=True)
class HeldOutRegion:
    """A named area of the image (in its pixels) whose chips form their own split."""

    name: str
    window: Window

    @property
    def split(self) -> str:
        return REGION_PREFIX + self.name


def _numbers(text: Any, count: int, where: str) -> list[float]:
    values = text if isinstance(text, (list, tuple)) else str(text).split(",")
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != count or not all(math.isfinite(number) for number in numbers):
        raise Low2HighError(f"{where}: expected {count} numbers; the format is {_REGION_FORMAT}.")
    return numbers


def _region(item: Any, grid: Grid, where: str) -> HeldOutRegion:
    """One region from 'name:...' text or a {name, bounds | window} mapping."""
    if isinstance(item, dict):
        name = str(item.get("name", ""))
        kind, values = ("window", item["window"]) if "window" in item else ("bounds", item.get("bounds"))
    else:
        parts = str(item).split(":")
        if len(parts) == 2:
            name, kind, values = parts[0], "bounds", parts[1]
        elif len(parts) == 3 and parts[1].strip().lower() == "pixels":
            name, kind, values = parts[0], "window", parts[2]
        else:
            raise Low2HighError(f"{where}: expected {_REGION_FORMAT}.")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise Low2HighError(f"{where}: the region name '{name}' must be letters, digits, '_', '-' or '.'.")
    if kind == "window":
        col, row, width, height = (int(round(value)) for value in _numbers(values, 4, where))
        if width <= 0 or height <= 0:
            raise Low2HighError(f"{where}: the window's width and height must be positive.")
        window = Window(col, row, width, height).intersection(grid.full_window)
    else:
        xmin, ymin, xmax, ymax = _numbers(values, 4, where)
        if xmin >= xmax or ymin >= ymax:
            raise Low2HighError(f"{where}: expected XMIN < XMAX and YMIN < YMAX.")
        window = grid.window_for_bounds(xmin, ymin, xmax, ymax)
    if window is None:
        raise Low2HighError(f"{where}: region '{name}' lies outside the image.")
    return HeldOutRegion(name, window)


def parse_regions(spec: Union[str, Sequence[Any], None], grid: Grid) -> list[HeldOutRegion]:
    """Held-out regions from the config: 'a:…;b:…' text, or a list of such texts or mappings."""
    if not spec:
        return []
    items = [part for part in str(spec).split(";") if part.strip()] if isinstance(spec, str) else list(spec)
    regions = [_region(item, grid, f"regions item {number} ({item!r})") for number, item in enumerate(items, start=1)]
    names = [region.name for region in regions]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise Low2HighError(f"Region names must be unique; repeated: {', '.join(repeated)}.")
    return regions


def region_of(window: Window, regions: Sequence[HeldOutRegion]) -> tuple[Optional[HeldOutRegion], bool]:
    """The region holding ``window`` entirely (first match), and whether it straddles any region."""
    for region in regions:
        shared = region.window.intersection(window)
        if shared is None:
            continue
        if shared == window:
            return region, False
        return None, True
    return None, False


def split_counts(total: int, fractions: Sequence[float]) -> list[int]:
    """Chips per split: the exact proportions, rounded by largest remainder (ties: earlier split)."""
    raw = [fraction * total for fraction in fractions]
    counts = [math.floor(value) for value in raw]
    order = sorted(range(len(raw)), key=lambda index: (-(raw[index] - counts[index]), index))
    for index in order[: total - sum(counts)]:
        counts[index] += 1
    return counts


def check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != len(SPLITS) or any(fraction < 0 for fraction in fractions) \
            or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise Low2HighError(f"split_fractions must be {len(SPLITS)} non-negative numbers for "
                            f"{', '.join(SPLITS)} that add up to 1 (got {list(fractions)}).")


def assign_splits(chips: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Split name of each chip id: a seeded shuffle of the sorted ids, cut in ``fractions``."""
    ordered = sorted(chips)
    shuffled = [ordered[index] for index in np.random.default_rng(seed).permutation(len(ordered))]
    assignment: dict[str, str] = {}
    start = 0
    for name, count in zip(SPLITS, split_counts(len(ordered), fractions)):
        for chip in shuffled[start:start + count]:
            assignment[chip] = name
        start += count
    return assignment
