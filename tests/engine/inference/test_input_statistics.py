"""INPUT_STATISTICS: segment standardises by the card's statistics, the classified region's own, or half each."""
import dataclasses
import os

import numpy as np
import pytest
from helpers import make_model, make_raster, read, scene

from low2high.core.contract import (
    BLEND_FULL_PIXELS,
    BLEND_WEIGHT,
    blend_weight,
    fed_statistics,
    statistics_source,
    tile_statistics,
)
from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Window
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.inference.statistics import sample_windows
from low2high.models.card import CheckpointError
from low2high.models.checkpoint import load_checkpoint, save_checkpoint


def run(image: str, output: str, model: str, log=None, **options) -> np.ndarray:
    options.setdefault("tile_size", 128)
    options.setdefault("overlap", 32)
    options.setdefault("precision", "fp32")
    segment(SegmentRequest(image, output, model, **options), log)
    return read(output)


@pytest.fixture(scope="module")
def flights(tmp_path_factory):
    """One scene and the same scene seen by another flight: every band's gain and offset changed."""
    folder = tmp_path_factory.mktemp("flights")
    pixels, _ = scene(200, 260, seed=3)
    gain, offset = np.array([0.7, 1.2, 0.9, 1.1]), np.array([40, -10, 25, 5])
    other = np.clip(pixels.astype(float) * gain[:, None, None] + offset[:, None, None], 0, 255).round()
    return make_raster(str(folder / "a.tif"), pixels), make_raster(str(folder / "b.tif"), other.astype(np.uint8))


def tile_card_model(path: str) -> str:
    """A small model whose card says it was trained on each chip's own statistics."""
    make_model(path, seed=4)
    loaded = load_checkpoint(path)
    loaded.card.standardisation = "tile"
    save_checkpoint(path, loaded.build_model(), loaded.card)
    return path


def test_the_rule_follows_a_dataset_cards_choice_and_feeds_a_tile_card_the_images_own():
    assert statistics_source("auto", "tile") == "image" and statistics_source("blend", "tile") == "image"
    assert statistics_source("auto", "tile", "model") == "image"  # a tile card's choice is its tiles' own
    assert statistics_source("auto", "dataset") == "model"  # cards without a choice, and Deepness models
    assert statistics_source("auto", "dataset", "blend") == "blend" and statistics_source("model", "dataset",
                                                                                          "blend") == "model"
    assert statistics_source("image", "dataset") == "image" and statistics_source("model", "tile") == "model"
    with pytest.raises(ValueError, match="auto, image, model, blend"):
        statistics_source("scene", "dataset")
    with pytest.raises(ValueError, match="card's input_statistics must be one of model, blend, image"):
        statistics_source("auto", "dataset", "auto")


def test_a_card_names_a_known_choice_and_old_cards_mean_model(tmp_path):
    model = make_model(str(tmp_path / "m.pt"))
    loaded = load_checkpoint(model)
    assert loaded.card.input_statistics == "model"
    with pytest.raises(CheckpointError, match="input_statistics must be one of model, blend, image"):
        dataclasses.replace(loaded.card, input_statistics="scene")  # as a card read from a file is checked


def test_blend_is_halfway_in_mean_and_in_log_std():
    mean, std = fed_statistics("blend", [0.2, 0.4], [0.1, 0.3], [0.4, 0.4], [0.4, 0.3], 1_000_000)
    assert np.allclose(mean, [0.3, 0.4]) and np.allclose(std, [0.2, 0.3])  # sqrt(0.1 * 0.4) = 0.2
    assert fed_statistics("model", [0.2, 0.4], [0.1, 0.3], [0.4, 0.4], [0.4, 0.3], 9) == ([0.2, 0.4], [0.1, 0.3])
    assert fed_statistics("image", [0.2, 0.4], [0.1, 0.3], [0.4, 0.4], [0.4, 0.3], 9) == ([0.4, 0.4], [0.4, 0.3])


def test_a_small_region_blends_less_its_statistics_being_mostly_its_content():
    assert blend_weight(BLEND_FULL_PIXELS) == blend_weight(10 * BLEND_FULL_PIXELS) == BLEND_WEIGHT
    assert blend_weight(BLEND_FULL_PIXELS // 4) == pytest.approx(BLEND_WEIGHT / 4) and blend_weight(0) == 0
    quarter, _ = fed_statistics("blend", [0.2], [0.1], [0.6], [0.1], BLEND_FULL_PIXELS // 4)
    assert quarter == pytest.approx([0.2 + 0.4 * BLEND_WEIGHT / 4])


def test_blend_undoes_half_a_new_flights_offset_and_is_logged(flights, tmp_path):
    """The card's statistics are the first flight's own: the blend then feeds the second flight by
    statistics halfway between the two flights', and the log gives all three."""
    model = make_model(str(tmp_path / "m.pt"), seed=2)
    loaded = load_checkpoint(model)
    first, second = flights
    loaded.card.mean, loaded.card.std = (values.tolist() for values in tile_statistics(read(first), None))
    loaded.card.input_statistics = "blend"  # what auto feeds it (the demo's card asks the same)
    save_checkpoint(model, loaded.build_model(), loaded.card)
    log = SilentProgress()
    same = run(first, str(tmp_path / "a.tif"), model, input_statistics="model")
    blended = run(second, str(tmp_path / "b.tif"), model, log)  # auto: the card's blend
    as_trained = run(second, str(tmp_path / "c.tif"), model, input_statistics="model")
    image = run(second, str(tmp_path / "d.tif"), model, input_statistics="image")
    agreement = [(same == other).mean() for other in (as_trained, blended, image)]
    assert agreement[0] < agreement[1] < agreement[2]  # half the way back to the first flight's map
    line = next(line for line in log.messages if line.startswith("Input statistics"))
    mean, _ = fed_statistics("blend", loaded.card.mean, loaded.card.std, *tile_statistics(read(second), None), 52_000)
    assert line.startswith("Input statistics: half the model card's, half the image's own measured on 52,000")
    assert f"mean {'/'.join(f'{value:.3f}' for value in mean)}" in line and "input_statistics being 'blend'" in line


def test_image_statistics_undo_a_new_flights_gain_and_offset(flights, tmp_path):
    model = make_model(str(tmp_path / "m.pt"), seed=2)
    first, second = flights
    same = run(first, str(tmp_path / "a.tif"), model, input_statistics="image")
    moved = run(second, str(tmp_path / "b.tif"), model, input_statistics="image")
    as_trained = run(second, str(tmp_path / "c.tif"), model, input_statistics="model")
    assert (same == moved).mean() > 0.995  # rounding and clipping aside, the same input after standardising
    assert (same == as_trained).mean() < (same == moved).mean() - 0.02  # the card's statistics do not undo it


def test_auto_uses_the_images_statistics_for_a_tile_card_and_logs_them(flights, tmp_path):
    model = tile_card_model(str(tmp_path / "t.pt"))
    log = SilentProgress()
    auto = run(flights[0], str(tmp_path / "auto.tif"), model, log)
    image = run(flights[0], str(tmp_path / "image.tif"), model, input_statistics="image")
    assert (auto == image).all()
    line = next(line for line in log.messages if line.startswith("Input statistics"))
    assert "the image's own, measured on 52,000 pixels" in line and "standardisation being 'tile'" in line
    mean, _ = tile_statistics(read(flights[0]), None)
    assert f"mean {'/'.join(f'{value:.3f}' for value in mean)}" in line


def test_image_statistics_are_the_same_numbers_for_every_tile(flights, tmp_path):
    """A tile card fed the image's statistics = the same weights with those numbers written on a dataset card."""
    model = tile_card_model(str(tmp_path / "t.pt"))
    tiled = run(flights[1], str(tmp_path / "tiled.tif"), model, tile_size=96, overlap=32)
    loaded = load_checkpoint(model)
    mean, std = tile_statistics(read(flights[1]), None)
    loaded.card.standardisation, loaded.card.mean, loaded.card.std = "dataset", mean.tolist(), std.tolist()
    fixed = save_checkpoint(str(tmp_path / "fixed.pt"), loaded.build_model(), loaded.card) or str(tmp_path / "fixed.pt")
    assert (tiled == run(flights[1], str(tmp_path / "fixed.tif"), fixed, tile_size=96, overlap=32)).all()
    per_tile = run(flights[1], str(tmp_path / "per-tile.tif"), model, tile_size=96, overlap=32,
                   input_statistics="model")
    assert (per_tile != tiled).any()  # the card's own rule, each tile by itself, is another input


def test_statistics_honour_the_extent_and_leave_nodata_out(tmp_path):
    pixels, _ = scene(128, 192, seed=5)
    pixels[:, :, 96:] = 0  # the right half has no data
    image = make_raster(str(tmp_path / "half.tif"), pixels, nodata=0)
    model = make_model(str(tmp_path / "m.pt"))
    log = SilentProgress()
    run(image, str(tmp_path / "out.tif"), model, log, input_statistics="image")
    line = next(line for line in log.messages if line.startswith("Input statistics"))
    assert "measured on 12,288 pixels" in line  # 128 × 96 valid pixels, none of the nodata half
    for asked in ("image", "blend"):
        with pytest.raises(Low2HighError, match=f"holds no data to classify .* INPUT_STATISTICS {asked} measures"):
            run(image, str(tmp_path / "none.tif"), model, input_statistics=asked,
                extent=(330100, 4310000 - 127, 330190, 4310000 - 1))
        assert not os.path.exists(tmp_path / "none.tif")


def test_unknown_choice_is_a_sentence(flights, tmp_path):
    with pytest.raises(Low2HighError, match="INPUT_STATISTICS must be one of auto, image, model, blend"):
        run(flights[0], str(tmp_path / "x.tif"), make_model(str(tmp_path / "m.pt")), input_statistics="scene")


def test_large_regions_are_sampled_evenly_within_the_budget():
    small = Window(10, 20, 300, 200)
    windows = sample_windows(small, budget=100_000, side=128)
    assert sum(window.size for window in windows) == small.size  # read whole
    large = Window(0, 0, 40_000, 10_000)
    windows = sample_windows(large, budget=4_000_000, side=256)
    assert sum(window.size for window in windows) <= 4_000_000 and len(windows) >= 40
    assert min(window.col for window in windows) == 0 and max(window.col_end for window in windows) == 40_000
    assert max(window.row + window.height for window in windows) == 10_000
