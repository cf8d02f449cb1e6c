"""Tile layout, blending weights and the streaming blender."""
import numpy as np
import pytest

from low2high.core.errors import Low2HighError
from low2high.engine.geo.grid import Window
from low2high.engine.inference.blending import TileBlender
from low2high.engine.inference.tiling import MAX_OVERHEAD, TileLayout, axis_starts, default_tile_side


@pytest.mark.parametrize("length,tile,overlap", [(1000, 256, 32), (256, 256, 32), (257, 256, 32),
                                                 (5000, 1024, 64), (300, 128, 64), (4096, 512, 0)])
def test_axis_starts_cover_with_at_least_the_overlap(length, tile, overlap):
    starts = axis_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] + tile == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    assert len(starts) == 1 or all(b > a for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("length,tile,overlap", [(8192, 1024, 32), (8192, 2048, 64), (1000, 256, 32), (5000, 512, 64)])
def test_fitted_tiles_waste_little_on_overlaps(length, tile, overlap):
    layout = TileLayout.plan(Window(0, 0, length, 64), tile, overlap)
    starts, side = layout.col_starts, layout.tile_width
    assert side <= tile and side % 32 == 0
    assert len(starts) == len(axis_starts(length, tile, overlap))  # no more tiles than full-size ones
    assert all(b - a <= side - overlap for a, b in zip(starts, starts[1:]))
    assert len(starts) * side - length < len(starts) * (overlap + 32)  # waste: the overlaps + rounding


def test_region_smaller_than_a_tile_gets_one_padded_tile():
    layout = TileLayout.plan(Window(5, 7, 100, 40), 256, 32)
    assert layout.count == 1 and (layout.tile_height, layout.tile_width) == (64, 128)
    fixed = TileLayout.plan(Window(0, 0, 100, 40), 256, 32, fixed_size=True)
    assert (fixed.tile_height, fixed.tile_width) == (256, 256)


@pytest.mark.parametrize("tile,overlap", [(100, 10), (256, 200), (256, -1)])
def test_bad_tiling_parameters_are_refused(tile, overlap):
    with pytest.raises(Low2HighError):
        TileLayout.plan(Window(0, 0, 1000, 1000), tile, overlap)


def test_weights_fall_only_toward_shared_edges():
    layout = TileLayout.plan(Window(0, 0, 600, 256), 256, 32)
    tiles = list(layout.tiles())
    first, middle = layout.weights(tiles[0]), layout.weights(tiles[1])
    assert first[128, 0] == 1.0 and first[128, -1] < 0.05  # raster edge kept, shared edge falls
    assert middle[128, 0] < 0.05 and middle[128, -1] < 0.05
    assert first[0, 128] == 1.0 and first[-1, 128] == 1.0  # single row of tiles: no vertical falloff


def _blend(region, tile, overlap, classes, field):
    layout = TileLayout.plan(region, tile, overlap)
    blender = TileBlender(layout, classes)
    out = np.full((classes, region.height, region.width), np.nan, np.float32)
    valid_out = np.zeros((region.height, region.width), bool)
    peak = 0
    for t in layout.tiles():
        w = t.window
        probs = np.zeros((classes, layout.tile_height, layout.tile_width), np.float32)
        h, wd = min(w.height, region.height - w.row), min(w.width, region.width - w.col)
        probs[:, :h, :wd] = field[:, w.row:w.row + h, w.col:w.col + wd]
        valid = np.zeros((layout.tile_height, layout.tile_width), bool)
        valid[:h, :wd] = True
        for block in blender.add(t, probs, valid):
            b = block.window
            assert np.isnan(out[:, b.row:b.row_end, b.col:b.col_end]).all(), "a block was released twice"
            out[:, b.row:b.row_end, b.col:b.col_end] = block.probabilities
            valid_out[b.row:b.row_end, b.col:b.col_end] = block.valid
        peak = max(peak, blender.pending_bytes)
    return out, valid_out, peak


def test_blending_tiles_of_one_field_reproduces_it_exactly_and_releases_every_pixel_once():
    rng = np.random.default_rng(0)
    region = Window(0, 0, 700, 530)
    field = rng.random((3, region.height, region.width)).astype(np.float32)
    out, valid, _ = _blend(region, 128, 32, 3, field)
    assert valid.all()
    np.testing.assert_allclose(out, field, rtol=1e-5)


def test_blender_memory_does_not_grow_with_the_region():
    short, tall = 256 + 4 * 224, 256 + 16 * 224  # same stride (224) and overlap (32) in both
    small = _blend(Window(0, 0, 1024, short), 256, 32, 4, np.ones((4, short, 1024), np.float32))[2]
    large = _blend(Window(0, 0, 1024, tall), 256, 32, 4, np.ones((4, tall, 1024), np.float32))[2]
    wide = _blend(Window(0, 0, 4096, short), 256, 32, 4, np.ones((4, short, 4096), np.float32))[2]
    assert large == small  # taller: nothing more is pending
    tile_bytes = 6 * 256 * 256 * 4
    assert wide <= 2 * tile_bytes + 6 * 32 * 4096 * 4  # wider: only the 32-row shared strip grows


@pytest.mark.parametrize("side,overlap", [(5000, 64), (5000, 32), (8192, 64), (3000, 64), (1024, 64), (20000, 64)])
def test_default_tiles_compute_at_most_115_percent_of_the_raster(side, overlap):
    region = Window(0, 0, side, side)
    tile = default_tile_side(region, overlap, 512, 2048)
    layout = TileLayout.plan(region, tile, overlap)
    assert layout.overhead <= MAX_OVERHEAD and tile % 32 == 0
    fixed = TileLayout.plan(region, 512, 64, fixed_size=True)  # what a fixed 512-px export forces
    assert side < 2048 or fixed.overhead > 1.2


def test_a_tight_memory_cap_gives_the_least_wasteful_tile_it_allows():
    region = Window(0, 0, 5000, 5000)
    tile = default_tile_side(region, 64, 256, 384)
    assert tile <= 384
    assert TileLayout.plan(region, tile, 64).overhead == min(TileLayout.plan(region, s, 64).overhead
                                                             for s in range(256, 385, 32))


def test_the_log_line_states_the_real_stride_and_shared_pixels():
    layout = TileLayout.plan(Window(0, 0, 5000, 5000), 512, 64, fixed_size=True)  # the known case: 408-px stride
    text = layout.describe()
    strides = {b - a for a, b in zip(layout.col_starts, layout.col_starts[1:])}
    assert f"stride {min(strides)}" in text and "neighbours share 104 px (asked: at least 64)" in text
    assert f"{layout.count} tiles (12 × 12) of 512 × 512 px" in text and "1.51 × the region's pixels" in text
    assert "one tile: no overlap" in TileLayout.plan(Window(0, 0, 100, 100), 128, 32).describe()
