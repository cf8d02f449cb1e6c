"""The chip budget: where it comes from, the estimate it logs, and the seeded sample when areas hold more."""
from __future__ import annotations

import numpy as np
import pytest
from finetune_helpers import square
from helpers import ORIGIN

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Grid
from low2high.engine.labels.taxonomy import load_taxonomy
from low2high.train.finetune.areas import read_areas
from low2high.train.finetune.budget import (
    BUDGET_ENV,
    DEFAULT_BUDGET_MB,
    MB,
    allocate,
    chip_bytes,
    plan_chips,
    resolve_budget,
)
from low2high.train.finetune.config import FinetuneConfig
from low2high.train.finetune.data import VALIDATION, read_area_chips, split_validation

SIDE, FACTOR, BANDS = 270, 30, 4
UTM18N = 'PROJCS["WGS 84 / UTM zone 18N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],' \
         'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],' \
         'PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",-75],PARAMETER["scale_factor",0.9996],' \
         'PARAMETER["false_easting",500000],PARAMETER["false_northing",0],UNIT["metre",1]]'


def _image(side_m: int = 12000) -> Grid:
    """A 1 m grid (no raster: planning reads none) of ``side_m`` pixels a side."""
    return Grid((ORIGIN[0], 1.0, 0.0, ORIGIN[1], 0.0, -1.0), side_m, side_m, UTM18N)


def _plan(areas: list[str], budget_mb: float, seed: int = 0):
    grid = _image()
    return plan_chips(grid, read_areas(areas, "", grid), SIDE, FACTOR, BANDS, False, budget_mb, seed)


def test_the_budget_is_the_setting_else_the_environment_else_the_default(monkeypatch):
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert resolve_budget(None)[0] == DEFAULT_BUDGET_MB
    monkeypatch.setenv(BUDGET_ENV, "64")
    assert resolve_budget(None) == (64.0, BUDGET_ENV)
    assert resolve_budget(32)[0] == 32.0
    for text in ("lots", "0", "-5", "inf"):
        monkeypatch.setenv(BUDGET_ENV, text)
        with pytest.raises(Low2HighError, match=BUDGET_ENV):
            resolve_budget(None)
    with pytest.raises(Low2HighError, match="chip_memory_mb"):
        FinetuneConfig(chip_memory_mb=0)


def test_chips_are_shared_in_proportion_with_one_for_every_polygon():
    counts = allocate(np.array([9000.0, 900.0, 10.0]), np.array([500, 50, 2]), 100)
    assert counts.sum() == 100 and counts[2] >= 1 and counts[0] > 8 * counts[1]
    assert list(allocate(np.array([9000.0, 10.0]), np.array([500, 1]), 1)) == [1, 0]  # the heaviest first
    assert list(allocate(np.array([100.0, 100.0]), np.array([3, 500]), 50)) == [3, 47]  # a full polygon passes on


def test_areas_within_the_budget_are_all_read_and_the_estimate_says_so():
    plan = _plan([square(ORIGIN[0] + 100, ORIGIN[1] - 100, 1000)], 256)
    assert not plan.sampled and len(plan.windows) == plan.touching == 25  # 100..1100 m: chips 0-4
    assert plan.blocks == pytest.approx(1000 ** 2 / 900, rel=0.1)
    assert "within the budget: every chip is held" in plan.describe(SIDE, 30)


def test_larger_areas_are_a_seeded_sample_within_the_budget_spread_over_every_polygon():
    big = square(ORIGIN[0] + 100, ORIGIN[1] - 100, 8000)
    small = square(ORIGIN[0] + 10000, ORIGIN[1] - 10000, 300)
    budget = 40 * chip_bytes(SIDE, FACTOR, BANDS, False) / MB  # 40 chips of about 900
    plan = _plan([big, small], budget)
    assert plan.sampled and len(plan.windows) <= 40 and len(plan.windows) * plan.chip_bytes <= budget * MB
    rows = [window.row // SIDE for window in plan.windows]
    assert max(rows) * SIDE >= 10000 - SIDE  # the small polygon has its chip
    big_rows = [row for row in rows if row * SIDE < 8100]
    assert min(big_rows) <= 3 and max(big_rows) >= 26  # spread over the whole big polygon, top to bottom
    text = plan.describe(SIDE, 30)
    assert "over the budget: a seeded sample of" in text and BUDGET_ENV in text and "2 polygon(s)" in text
    assert [w.col for w in _plan([big, small], budget).windows] == [w.col for w in plan.windows]
    assert [(w.row, w.col) for w in _plan([big, small], budget, seed=1).windows] != \
           [(w.row, w.col) for w in plan.windows]
    with pytest.raises(Low2HighError, match="does not hold one chip"):
        _plan([big], 0.1)


def test_a_sampled_area_still_holds_out_validation_blocks(tune_scene):
    """The tiny scene's 4 chips of 64 px with a budget of 2: two are read, and validation still works."""
    grid_areas = read_areas(tune_scene["areas"], "", _scene_grid(tune_scene["image"]))
    budget = 2 * chip_bytes(64, 8, 4, False) / MB
    progress = SilentProgress()
    chips = read_area_chips(tune_scene["image"], tune_scene["labels"], load_taxonomy("nlcd"), grid_areas, None, 8,
                            4, progress, budget_mb=budget, seed=0)
    assert len(chips) == 2 and chips.pixels.shape[0] == 2
    assert any("4 chip(s) of 64 px" in line and "seeded sample of 2 chips" in line for line in progress.messages)
    split_validation(chips, 0.25, seed=3, progress=SilentProgress())
    assert 0 < chips.blocks(VALIDATION) < chips.usable_blocks


def test_a_finetune_run_over_a_sample_judges_steps_on_held_out_blocks(settings):
    from low2high.train.finetune.task import finetune

    result = finetune(FinetuneConfig(**settings, chip_memory_mb=2 * chip_bytes(64, 8, 4, True) / MB,
                                     normalisation="image"))
    assert result.blocks["validation"] > 0 and result.blocks["train"] > 0
    assert any("val_strength" in record for record in result.history)


def _scene_grid(path: str) -> Grid:
    from low2high.engine.geo.raster_io import RasterSource

    return RasterSource.open(path).grid
