"""Deepness segmentation models in ``segment``: the card from their metadata, the map Deepness's rules
draw (tests/deepness_rules.py), BANDS, and every model or band choice that cannot work."""
import os

import numpy as np
import pytest
from deepness_models import METADATA, deepness_model, rgb_network
from deepness_rules import deepness_map, load_default_parameters
from helpers import make_raster, read, scene
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.inference.bands import parse_bands
from low2high.engine.inference.model import open_model
from low2high.engine.inference.segment import SegmentRequest, segment

pytest.importorskip("onnx")

#: Deepness's 256-px tiles with 10 % overlap step by 231 px: 718 × 949 px is 3 × 4 tiles with none
#: padded past the edge; 1600 × 2000 px is not a whole number of steps (Deepness pads with black).
WHOLE_TILES, PADDED = (718, 949), (1600, 2000)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return deepness_model(str(tmp_path_factory.mktemp("deepness") / "landcover.onnx"), rgb_network())


def rgbn_image(folder, shape, name="image.tif", seed=3, pixel_size=1.0):
    """A 4-band scene (the model takes the first three) and its path."""
    pixels, _ = scene(*shape, bands=4, seed=seed)
    return pixels, make_raster(os.path.join(folder, name), pixels, pixel_size=pixel_size)


def run(image, folder, model, name="map.tif", **options):
    options.setdefault("precision", "fp32")
    progress = SilentProgress()
    result = segment(SegmentRequest(image, os.path.join(folder, name), model, **options), progress)
    return result, read(result.output_path), progress.warnings


@pytest.mark.parametrize("shape", [WHOLE_TILES, PADDED])
def test_segment_draws_the_map_deepness_draws(folder, model, shape):
    pixels, image = rgbn_image(folder, shape)
    _, ours, _ = run(image, folder, model)
    settings = load_default_parameters(model)
    theirs = deepness_map(model, pixels[:3], settings)
    differ = ours != theirs
    assert 1 - differ.mean() >= 0.999
    rows, cols = np.nonzero(differ)
    assert (np.minimum(shape[0] - 1 - rows, shape[1] - 1 - cols) <= 1).all()  # only where Deepness pads black
    if shape == WHOLE_TILES:
        assert not differ.any()
    from dataclasses import replace

    unthresholded = deepness_map(model, pixels[:3], replace(settings, threshold=0.0))
    assert (unthresholded != theirs).mean() > 0.01  # seg_thresh 0.5 decided these pixels: honoured


def test_the_card_comes_from_the_metadata(model):
    info = open_model(model).info
    assert info.class_names == ("background", "trees", "crops", "roofs")
    assert info.band_names == ("channel 1", "channel 2", "channel 3")
    assert info.gsd == 1.0 and info.resolution_known and info.threshold == 0.5
    assert info.fixed_tile_size == 256 and info.tile_size == 256 and info.tile_overlap == 25  # floor(10 % of 256)
    np.testing.assert_allclose(info.mean, METADATA["standardization_mean"])
    np.testing.assert_allclose(info.std, METADATA["standardization_std"])
    assert not info.notes and not info.resizable


def test_the_map_is_styled_with_the_models_classes_and_the_bands_are_named(folder, model):
    _, image = rgbn_image(folder, (300, 300))
    result, _, warnings = run(image, folder, model)
    assert any("raster bands 1, 2, 3 feed it" in warning for warning in warnings)
    dataset = gdal.Open(result.output_path)  # held: a band outlives no dataset
    dataset.GetGeoTransform()  # GDAL 3.6's GeoTIFF reads the .aux.xml (category names) only once asked this
    band = dataset.GetRasterBand(1)
    assert band.GetRasterCategoryNames() == ["background", "trees", "crops", "roofs"]
    colours = [band.GetColorTable().GetColorEntry(code)[:3] for code in range(4)]
    assert len(set(colours)) == 4
    assert os.path.exists(os.path.join(folder, "map.qml"))


def test_resolution_is_checked_against_the_pixel_size(folder, model):
    _, image = rgbn_image(folder, (200, 240), pixel_size=0.5)
    result, ours, warnings = run(image, folder, model)
    assert any("resampled to 1 m" in warning for warning in warnings)
    assert ours.shape == (200, 240)


def test_partial_metadata_names_what_is_missing_and_the_defaults(folder):
    path = deepness_model(os.path.join(folder, "partial.onnx"), metadata={"model_type": "Segmentor", "resolution": 100})
    _, image = rgbn_image(folder, (200, 240))
    result, _, warnings = run(image, folder, path)
    (sentence,) = [warning for warning in warnings if "partial Deepness metadata" in warning]
    for words in ("class_names (named class 0 … class 3)", "standardization_mean (0 for every band)",
                  "standardization_std (1 for every band)", "seg_thresh (0.5", "tiles_overlap (15 %)"):
        assert words in sentence, sentence
    assert result.model.class_names == ("class 0", "class 1", "class 2", "class 3")


def test_bands_choose_and_order_the_models_input(folder, model):
    pixels, image = rgbn_image(folder, WHOLE_TILES)
    _, ours, warnings = run(image, folder, model, bands=[3, 2, 1])
    assert not any("feed it" in warning for warning in warnings)  # chosen, so nothing to warn about
    theirs = deepness_map(model, pixels[[2, 1, 0]], load_default_parameters(model))
    assert (ours == theirs).all()


@pytest.mark.parametrize("bands, words", [
    ([1, 2, 5], ("BANDS names band 5", "has 4 bands")),
    ([1, 2], ("BANDS lists 2 bands", "takes 3 bands")),
    ([1, 2, 3, 4], ("BANDS lists 4 bands", "takes 3 bands")),
])
def test_bands_the_raster_lacks_or_a_count_the_model_does_not_take(folder, model, bands, words):
    _, image = rgbn_image(folder, (100, 100))
    with pytest.raises(Low2HighError) as caught:
        run(image, folder, model, bands=bands)
    for word in words:
        assert word in str(caught.value)
    assert not os.path.exists(os.path.join(folder, "map.tif"))


def test_parse_bands():
    assert parse_bands("1,2,3") == [1, 2, 3] and parse_bands(" 3 2, 1 ") == [3, 2, 1]
    assert parse_bands("") is None and parse_bands(None) is None
    for text in ("red,green", "0,1,2", "1.5"):
        with pytest.raises(Low2HighError, match="BANDS"):
            parse_bands(text)


@pytest.mark.parametrize("model_type, words", [("Detector", "object detector"), ("Regressor", "regression model"),
                                               ("superresolution", "super-resolution"),
                                               ("Recognition", "recognition model")])
def test_models_that_are_not_for_segmentation_are_refused(folder, model_type, words):
    path = deepness_model(os.path.join(folder, "other.onnx"), metadata={**METADATA, "model_type": model_type})
    _, image = rgbn_image(folder, (100, 100))
    with pytest.raises(Low2HighError) as caught:
        run(image, folder, path)
    assert words in str(caught.value) and "segmentation models only (model_type Segmentor)" in str(caught.value)


def test_a_model_without_a_class_per_pixel_is_refused(folder):
    import torch

    classifier = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                     torch.nn.Softmax(dim=1))
    path = deepness_model(os.path.join(folder, "classifier.onnx"), classifier)
    _, image = rgbn_image(folder, (100, 100))
    with pytest.raises(Low2HighError) as caught:
        run(image, folder, path)
    assert "not a class score per pixel" in str(caught.value)


def test_one_sigmoid_map_is_its_class_where_it_reaches_the_threshold(folder):
    import torch

    torch.manual_seed(1)
    network = torch.nn.Sequential(*list(rgb_network(softmax=False))[:2], torch.nn.Conv2d(4, 1, 1), torch.nn.Sigmoid())
    path = deepness_model(os.path.join(folder, "binary.onnx"), network.eval(),
                          metadata={**METADATA, "class_names": {"0": "water"}, "seg_thresh": 0.4})
    pixels, image = rgbn_image(folder, WHOLE_TILES)
    result, ours, _ = run(image, folder, path)
    assert result.model.class_names == ("background", "water")
    theirs = deepness_map(path, pixels[:3], load_default_parameters(path))
    assert (ours == theirs).mean() >= 0.999 and 0 < theirs.mean() < 1


def test_logits_become_probabilities(folder, model):
    """Raw scores are turned into probabilities by softmax: the map is the most probable class, as with the
    same network ending in softmax (Deepness would compare the raw scores with seg_thresh)."""
    from dataclasses import replace

    path = deepness_model(os.path.join(folder, "logits.onnx"), rgb_network(softmax=False),
                          metadata={**METADATA, "seg_thresh": 0.0})
    pixels, image = rgbn_image(folder, WHOLE_TILES)
    result, ours, _ = run(image, folder, path, probabilities_path=os.path.join(folder, "p.tif"))
    assert (ours == deepness_map(model, pixels[:3], replace(load_default_parameters(model), threshold=0.0))).all()
    percent = read(result.probabilities_path).astype(int)
    assert np.abs(percent.sum(axis=0) - 100).max() <= 2


def test_a_graph_made_for_one_tile_at_a_time_takes_batches(folder):
    path = deepness_model(os.path.join(folder, "batch1.onnx"), fixed_batch=True)
    pixels, image = rgbn_image(folder, WHOLE_TILES)
    _, ours, _ = run(image, folder, path, batch_size=5)
    assert (ours == deepness_map(path, pixels[:3], load_default_parameters(path))).all()


def test_int8_quantises_a_deepness_graph_at_its_own_tile_size(folder, model):
    pixels, image = rgbn_image(folder, WHOLE_TILES)
    result, ours, _ = run(image, folder, model, precision="int8")
    assert result.model.precision == "int8" and result.model.fixed_tile_size == 256
    assert (ours == deepness_map(model, pixels[:3], load_default_parameters(model))).mean() > 0.98


def test_tile_size_is_the_graphs(folder, model):
    _, image = rgbn_image(folder, (300, 400))
    result, _, warnings = run(image, folder, model, tile_size=128)
    assert "only takes 256-pixel tiles; TILE_SIZE 128 is ignored." in " ".join(warnings)
    assert result.model.fixed_tile_size == 256
