"""Every mistake issue 10 lists is one sentence a user understands, and nothing is written."""
from __future__ import annotations

import os

import numpy as np
import pytest
from finetune_helpers import square
from helpers import ORIGIN, make_model, make_raster, scene

from low2high.core.errors import Low2HighError
from low2high.train.finetune.config import FinetuneConfig
from low2high.train.finetune.task import finetune


def run(settings: dict, **changes) -> str:
    """The error message of a run that must fail; the output's folder is left as it was."""
    settings = {**settings, **changes}
    folder = os.path.dirname(settings["output"])
    before = sorted(os.listdir(folder))
    with pytest.raises(Low2HighError) as raised:
        finetune(FinetuneConfig(**settings))
    assert sorted(os.listdir(folder)) == before
    return str(raised.value)


def test_areas_empty(settings):
    assert "AREAS holds no polygon" in run(settings, areas=[])


def test_areas_not_polygons(settings):
    x, y = ORIGIN[0] + 10, ORIGIN[1] - 10
    assert "not points or lines" in run(settings, areas=[f"POINT({x} {y})", f"LINESTRING({x} {y},{x + 50} {y - 50})"])


def test_areas_outside_the_image(settings):
    assert "lie outside INPUT" in run(settings, areas=[square(ORIGIN[0] + 5000, ORIGIN[1], 100)])


def test_areas_in_another_crs_are_reprojected(settings):
    """The scene's corner square, given in WGS 84 (lon/lat), still finds the scene's blocks."""
    from osgeo import ogr, osr

    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromEPSG(26918)
    target.ImportFromEPSG(4326)
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    geometry = ogr.CreateGeometryFromWkt(settings["areas"][0])
    geometry.Transform(osr.CoordinateTransformation(source, target))
    settings.update(areas=[geometry.ExportToWkt()], areas_crs="EPSG:4326", steps=1, validation_share=0)
    assert os.path.exists(finetune(FinetuneConfig(**settings)).output)


def test_labels_that_do_not_cover_the_areas(settings, tmp_path):
    labels = make_raster(str(tmp_path / "far.tif"), np.full((4, 4), 41, np.uint8), pixel_size=8.0,
                         origin=(ORIGIN[0] + 96, ORIGIN[1] - 96))
    assert "do not cover any of the AREAS" in run(settings, labels=labels, areas=[square(ORIGIN[0], ORIGIN[1], 64)])


def test_labels_finer_than_the_image(settings, tmp_path):
    labels = make_raster(str(tmp_path / "fine.tif"), np.full((256, 256), 41, np.uint8), pixel_size=0.5)
    assert "finer than INPUT" in run(settings, labels=labels)


def test_labels_whose_pixels_are_not_a_whole_number_of_image_pixels(settings, tmp_path):
    labels = make_raster(str(tmp_path / "odd.tif"), np.full((16, 16), 41, np.uint8), pixel_size=8.6)
    assert "not a whole number" in run(settings, labels=labels)


def test_float_labels(settings, tmp_path):
    labels = make_raster(str(tmp_path / "float.tif"), np.full((16, 16), 41, np.float32), pixel_size=8.0)
    assert "Float32" in run(settings, labels=labels)


def test_exemplars_in_another_taxonomy(settings, tmp_path):
    codes = np.random.default_rng(0).choice([1, 2, 3, 5], size=(128, 128)).astype(np.uint8)  # Chesapeake codes
    exemplars = make_raster(str(tmp_path / "lc.tif"), codes)
    assert "Run low2high:remap" in run(settings, loss="agg+adv", exemplars=exemplars)


def test_base_model_with_another_band_count(settings, tmp_path):
    pixels, _ = scene(128, 128, bands=3, seed=1)
    rgb = make_raster(str(tmp_path / "rgb.tif"), pixels)
    assert "takes 4 bands but INPUT has 3" in run(settings, image=rgb)


def test_too_few_blocks_says_how_many_and_how_much_more(settings):
    message = run(settings, areas=[square(ORIGIN[0], ORIGIN[1], 16.5)])  # 4 whole 8 m blocks
    assert "4 usable block(s)" in message and "at least 8" in message and "4 more block(s)" in message


def test_output_model_equal_to_model(settings, tune_scene):
    before = open(tune_scene["model"], "rb").read()
    message = run(settings, output=tune_scene["model"])
    assert "would overwrite an input" in message
    assert open(tune_scene["model"], "rb").read() == before


def test_output_model_must_be_a_pt_file(settings, tmp_path):
    assert "must be a .pt file" in run(settings, output=str(tmp_path / "model.onnx"))


def test_an_onnx_base_model(settings, tmp_path):
    onnx = tmp_path / "base.onnx"
    onnx.write_bytes(b"not really")
    assert "holds no trainable weights" in run(settings, model=str(onnx))


def test_a_distribution_loss_without_a_prior_falls_back_to_agg_and_says_why(settings):
    """Custom labels have no p(class | code): the loss that needs none is used, with a warning naming why."""
    from low2high.core.progress import SilentProgress

    log = SilentProgress()
    result = finetune(FinetuneConfig(**{**settings, "loss": "agg-dist", "taxonomy": "custom", "steps": 2,
                                        "mapping": "11:water,41:forest,82:field,22:impervious"}), log)
    warning = next(message for message in log.warnings if "LOSS agg-dist" in message)
    assert "no PRIOR is known for LABEL_TAXONOMY custom" in warning and "LOSS agg is used instead" in warning
    from low2high.models.checkpoint import load_checkpoint

    assert load_checkpoint(result.output).card.training["finetune"]["loss"] == "agg"


def test_settings_out_of_range():
    with pytest.raises(Low2HighError, match="LOSS must be one of"):
        FinetuneConfig(loss="high")
    with pytest.raises(Low2HighError, match="VALIDATION_SHARE"):
        FinetuneConfig(validation_share=1.0)
    with pytest.raises(Low2HighError, match="STEPS must be at least 1"):
        FinetuneConfig(steps=0)
    assert make_model  # the conftest's base model is made with the same helper


def test_an_image_given_as_the_coarse_labels(settings):
    """Its red band read as NLCD codes taught nonsense that looked like a run (issue 18's sweep)."""
    assert "LOW_RES_LABELS has 4 bands, but a class raster has one band" in run(settings, labels=settings["image"])
