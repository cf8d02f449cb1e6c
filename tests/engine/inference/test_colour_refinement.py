"""Colour refinement: class colours fitted on the model's surest pixels sharpen a blurred map.

The fit and the refinement are checked on synthetic images whose true edge is known; segment's
use of them on the bundled demo model and sample, whose real labels say whether the map improved.
"""
import os

import numpy as np
import pytest
from helpers import REPO_ROOT, read
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.evaluation.metrics import ConfusionMatrix
from low2high.engine.geo.grid import Window
from low2high.engine.inference.colour_sample import WINDOW_SIDE, owned_pixels, sample_windows_of
from low2high.engine.inference.model import DEMO_MODEL
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.inference.tiling import TileLayout
from low2high.engine.labels.colour_refinement import (
    MIN_CLASS_PIXELS,
    SAMPLE_PIXELS,
    ColourFit,
    fit_and_refine,
    refinement_wanted,
)
from low2high.engine.labels.taxonomy import load_taxonomy
from low2high.models.card import ModelCard
from low2high.models.checkpoint import CheckpointError

SAMPLE = os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif")
SAMPLE_LABELS = os.path.join(REPO_ROOT, "resources", "sample", "naip_sample_chesapeake.tif")


def two_colour_scene(side: int = 128, true_edge: int = 64, blurred_edge: int = 84, seed: int = 0):
    """Dark left of ``true_edge``, bright right of it (4 noisy bands), and a model's blurred guess
    whose edge sits at ``blurred_edge`` with a soft 30-px ramp."""
    generator = np.random.default_rng(seed)
    columns = np.arange(side)
    truth = np.broadcast_to((columns >= true_edge).astype(np.uint8), (side, side))
    colours = np.where(truth[None] == 1, 1.0, -1.0) + generator.normal(0, 0.5, (4, side, side))
    right = 1 / (1 + np.exp(-(columns - blurred_edge) / 10.0))
    probabilities = np.zeros((2, side, side), np.float32)
    probabilities[1] = np.broadcast_to(right, (side, side))
    probabilities[0] = 1 - probabilities[1]
    return colours.astype(np.float32), probabilities, truth


def test_refinement_moves_a_blurred_edge_to_where_the_colours_change():
    colours, probabilities, truth = two_colour_scene()
    valid = np.ones(truth.shape, bool)
    refined = fit_and_refine(probabilities[None], colours[None], [valid])[0]
    before = (probabilities.argmax(0) != truth).mean()
    after = (refined.argmax(0) != truth).mean()
    assert before > 0.15  # the model's edge is 20 px off: the test can fail
    assert after < 0.02, (before, after)
    np.testing.assert_allclose(refined.sum(axis=0), 1.0, rtol=1e-5)


def test_a_class_with_too_few_sure_pixels_drops_out():
    colours, probabilities, _ = two_colour_scene()
    three = np.concatenate([probabilities * 0.9, np.zeros((1,) + probabilities.shape[1:], np.float32)])
    three[2, :5, :5] = 1.0  # 25 winning pixels of a third class: specks
    three /= three.sum(axis=0)
    assert (three.argmax(0) == 2).sum() == 25 < MIN_CLASS_PIXELS
    fit = ColourFit(3)
    fit.add(three, colours, np.ones(colours.shape[1:], bool))
    model = fit.fit()
    assert model is not None and model.coloured.tolist() == [True, True, False]
    assert not (model.refine(three[None], colours[None])[0].argmax(0) == 2).any()


def test_a_class_a_partial_sample_could_not_colour_keeps_the_models_say():
    """Sampled in windows, a lake between them must not vanish: its colour evidence is neutral."""
    colours, probabilities, _ = two_colour_scene()
    three = np.concatenate([probabilities * 0.5, np.zeros((1,) + probabilities.shape[1:], np.float32)])
    three[2, 40:90, 100:120] = 1.0  # the model is sure of a third class here, outside the sample below
    three /= three.sum(axis=0)
    sampled = np.zeros(colours.shape[1:], bool)
    sampled[:, :90] = True
    fit = ColourFit(3)
    fit.add(three, colours, sampled)
    model = fit.fit(whole_image=False)
    assert model is not None and model.coloured.tolist() == [True, True, False]
    refined = model.refine(three[None], colours[None])[0].argmax(0)
    assert (refined[40:90, 100:120] == 2).all() and (refined == 2).sum() == 50 * 20


def test_no_sure_class_leaves_the_map_alone():
    colours, probabilities, _ = two_colour_scene()
    nothing = np.zeros(colours.shape[1:], bool)
    fit = ColourFit(2)
    fit.add(probabilities, colours, nothing)
    assert fit.fit() is None
    np.testing.assert_array_equal(fit_and_refine(probabilities[None], colours[None], [nothing]), probabilities[None])


def test_auto_follows_the_card_and_a_bad_value_is_refused():
    assert refinement_wanted("auto", True) and not refinement_wanted("auto", False)
    assert refinement_wanted("on", False) and not refinement_wanted("off", True)
    with pytest.raises(Low2HighError, match="COLOUR_REFINEMENT must be one of auto, on, off \\(got 'sometimes'\\)"):
        refinement_wanted("sometimes", True)
    assert ModelCard().colour_refinement is False
    assert ModelCard.from_dict(ModelCard(colour_refinement=True).to_dict()).colour_refinement is True
    with pytest.raises(CheckpointError, match="colour_refinement must be true or false"):
        ModelCard(colour_refinement="yes")


@pytest.mark.parametrize("tile_size,overlap", [(128, 32), (160, 48), (96, 0)])
def test_every_region_pixel_enters_the_fit_once_whatever_the_tiling(tile_size, overlap):
    region = Window(0, 0, 300, 250)
    layout = TileLayout.plan(region, tile_size, overlap)
    counts = np.zeros((layout.tile_height * 4 + region.height, layout.tile_width * 4 + region.width), int)
    for tile in layout.tiles():
        window = tile.window
        counts[window.row:window.row + layout.tile_height,
               window.col:window.col + layout.tile_width] += owned_pixels(layout, tile)
    assert (counts[:region.height, :region.width] == 1).all()


def test_a_large_region_is_sampled_from_edge_to_edge_in_small_windows():
    """A class in one corner only (a lake) must reach the sample, or it would drop out of the map."""
    region = Window(100, 50, 20000, 15000)
    windows = sample_windows_of(region)
    assert len(windows) >= 20 and all(w.width == w.height == WINDOW_SIDE for w in windows)
    assert sum(w.size for w in windows) <= SAMPLE_PIXELS
    assert (windows[0].col, windows[0].row) == (region.col, region.row)
    assert (windows[-1].col_end, windows[-1].row + windows[-1].height) == (region.col_end, region.row + region.height)


def merged_labels() -> np.ndarray:
    codes = gdal.Open(SAMPLE_LABELS).ReadAsArray()
    return load_taxonomy("chesapeake").lookup_table()[codes.astype(np.int64)]


def miou(path: str, reference: np.ndarray) -> float:
    matrix = ConfusionMatrix()
    matrix.update(read(path), reference[:512, :512])
    return matrix.compute().macro_iou


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("colours") / "crop.tif")
    gdal.Translate(path, SAMPLE, srcWin=[0, 0, 512, 512])
    return path


def test_segment_refines_the_demo_map_and_it_matches_the_labels_better(crop, tmp_path):
    """The demo's card asks for the refinement (auto); on the sample's real labels it gains mIoU."""
    progress = SilentProgress()
    refined = segment(SegmentRequest(crop, str(tmp_path / "auto.tif"), DEMO_MODEL, precision="fp32",
                                     tile_size=256, min_mapping_unit=0), progress)
    plain = segment(SegmentRequest(crop, str(tmp_path / "off.tif"), DEMO_MODEL, precision="fp32", tile_size=256,
                                   min_mapping_unit=0, colour_refinement="off"))
    assert any(line.startswith("Colour refinement: class colours") for line in progress.messages)
    reference = merged_labels()
    gain = miou(refined.output_path, reference) - miou(plain.output_path, reference)
    assert gain > 0.05, gain
    assert refined.class_shares()["impervious"] > plain.class_shares()["impervious"]


def test_segment_refuses_an_unknown_refinement_and_writes_nothing(crop, tmp_path):
    with pytest.raises(Low2HighError, match="COLOUR_REFINEMENT must be one of auto, on, off"):
        segment(SegmentRequest(crop, str(tmp_path / "map.tif"), DEMO_MODEL, colour_refinement="maybe"))
    assert os.listdir(tmp_path) == []


def test_a_large_image_is_refined_from_windows_spread_over_it(tmp_path):
    """Over 4 Mpx the colours come from windows spread over the image, and the refined map keeps the classes
    of the image (the sample's lake: 7 % water); a class the windows miss is the unit test's above."""
    mosaic = str(tmp_path / "mosaic.tif")
    source = gdal.Open(SAMPLE)
    pixels = source.ReadAsArray()
    tiled = np.tile(pixels, (1, 3, 3))[:, :2200, :2200]  # 4.84 Mpx, the lake three times across
    target = gdal.GetDriverByName("GTiff").Create(mosaic, 2200, 2200, 4, gdal.GDT_Byte, ["TILED=YES"])
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjection())
    for band in range(4):
        target.GetRasterBand(band + 1).WriteArray(tiled[band])
    target = None
    progress = SilentProgress()
    result = segment(SegmentRequest(mosaic, str(tmp_path / "map.tif"), DEMO_MODEL, colour_refinement="on"), progress)
    assert any("windows of 384 px spread over the region" in line for line in progress.messages)
    assert result.class_shares()["water"] > 0.04
