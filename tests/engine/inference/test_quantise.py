"""int8 through ONNX Runtime static quantisation, calibrated on the user's raster, cached aside."""
import os

import numpy as np
import pytest
from helpers import export_model, make_model, make_raster, read, scene

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Window
from low2high.engine.inference.calibration import calibration_tiles, class_agreement
from low2high.engine.inference.model import load_predictor, open_model
from low2high.engine.inference.model_cache import file_digest
from low2high.engine.inference.quantise import int8_model, make_resizable
from low2high.engine.inference.segment import SegmentRequest, segment


@pytest.fixture
def image(folder):
    pixels, _ = scene(320, 352, seed=3)
    return make_raster(os.path.join(folder, "image.tif"), pixels)


def test_class_agreement_counts_valid_pixels_only():
    a = np.zeros((2, 2, 2), np.float32)
    a[0] = 1  # class 0 everywhere
    b = a.copy()
    b[1, 0, 0] = 2  # one pixel flips to class 1
    assert class_agreement([a], [b]) == 0.75
    assert class_agreement([a], [b], [np.array([[False, True], [True, True]])]) == 1.0


def test_calibration_tiles_are_normalised_by_the_contract_and_skip_nodata(folder, tiny_models):
    info = open_model(tiny_models[0], "cpu").info
    pixels, _ = scene(600, 600, seed=4)
    pixels[:, :, 300:] = 0
    path = make_raster(os.path.join(folder, "half.tif"), pixels, nodata=0)
    tiles = calibration_tiles(path, Window(0, 0, 600, 600), info, count=4, side=256)
    assert tiles.tiles and all(tile.shape == (4, 256, 256) and tile.dtype == np.float32 for tile in tiles.tiles)
    assert all(valid.mean() >= 0.5 for valid in tiles.valid)
    empty = make_raster(os.path.join(folder, "empty.tif"), np.zeros((4, 300, 300), np.uint8), nodata=0)
    assert calibration_tiles(empty, Window(0, 0, 300, 300), info).tiles == []


def test_calibration_tiles_are_prepared_as_classified_tiles_are(image, tiny_models):
    """A region smaller than a tile is padded by mirroring, as the pipeline pads (zeros once made
    the precision trials score tiles unlike the classified ones)."""
    from low2high.engine.geo.raster_io import RasterSource
    from low2high.engine.inference.tile_input import network_input

    info = open_model(tiny_models[0], "cpu").info
    region = Window(0, 0, 100, 90)
    (tile,) = calibration_tiles(image, region, info, count=1).tiles
    source = RasterSource.open(image)
    pixels = source.read(region)
    assert tile.shape == (4, 96, 128)
    np.testing.assert_array_equal(tile, network_input(pixels, source.valid_mask(region, pixels), info, 96, 128))
    np.testing.assert_array_equal(tile[:, 90:], tile[:, 89:83:-1])  # mirrored, not zeros


@pytest.fixture
def fresh_onnx(tmp_path, request):
    """An ONNX model no other test has quantised or measured (the cache lives for the session)."""
    seed = 100 + sum(map(ord, request.node.name))
    return export_model(make_model(str(tmp_path / "fresh.pt"), seed=seed), str(tmp_path / "fresh.onnx"))


def test_int8_model_is_cached_by_hash_and_never_touches_the_model(image, fresh_onnx, model_cache):
    onnx_path = fresh_onnx
    before = (file_digest(onnx_path), os.path.getmtime(onnx_path), sorted(os.listdir(os.path.dirname(onnx_path))))
    info = load_predictor(onnx_path, "cpu").info
    calls = []

    def tiles():
        calls.append(1)
        return calibration_tiles(image, Window(0, 0, 352, 320), info, count=2, side=128).tiles

    entry = int8_model(onnx_path, "onnx", tiles)
    assert entry.built and os.path.dirname(entry.path) == model_cache and calls == [1]
    assert not int8_model(onnx_path, "onnx", tiles).built and calls == [1]  # reused, no calibration
    after = (file_digest(onnx_path), os.path.getmtime(onnx_path), sorted(os.listdir(os.path.dirname(onnx_path))))
    assert after == before
    int8 = load_predictor(onnx_path, "cpu", "int8", runs=entry.path)
    assert int8.info.precision == "int8" and int8.info.path == onnx_path and int8.info.fixed_tile_size is None
    batch = np.random.default_rng(0).standard_normal((1, 4, 96, 160), dtype=np.float32)  # resizable now
    assert int8.predict(batch).shape == (1, 4, 96, 160)


def test_segment_int8_of_a_checkpoint_prints_its_agreement_with_fp32(image, folder, tiny_models):
    progress = SilentProgress()
    result = segment(SegmentRequest(image, os.path.join(folder, "int8.tif"), tiny_models[0], tile_size=128,
                                    overlap=32, precision="int8"), progress)
    assert result.model.precision == "int8" and result.model.backend == "onnx"
    said = " ".join(progress.messages + progress.warnings)
    assert "class agreement with fp32" in said
    fp32 = segment(SegmentRequest(image, os.path.join(folder, "fp32.tif"), tiny_models[0], tile_size=128,
                                  overlap=32, precision="fp32"))
    assert (read(result.output_path) == read(fp32.output_path)).mean() > 0.8  # random weights: near-ties


def test_int8_calibration_on_an_area_without_data_is_a_clear_error(folder, tmp_path):
    pixels, _ = scene(300, 300, seed=5)
    pixels[:, :, :] = 0
    pixels[:, :60, :60] = 100  # data, but in no calibration tile's majority
    path = make_raster(os.path.join(folder, "sparse.tif"), pixels, nodata=0)
    checkpoint = make_model(str(tmp_path / "sparse.pt"), seed=7)  # other weights: no cached int8 model
    model = export_model(checkpoint, str(tmp_path / "sparse.onnx"))
    with pytest.raises(Low2HighError, match="calibrates on tiles of the input.*use fp32"):
        segment(SegmentRequest(path, os.path.join(folder, "x.tif"), model, precision="int8"))
    progress = SilentProgress()
    result = segment(SegmentRequest(path, os.path.join(folder, "auto.tif"), model, precision="auto"), progress)
    assert result.model.precision == "fp32" and any("using fp32" in w for w in progress.warnings)


def test_auto_says_what_it_chose_and_why_then_reuses_the_measurement(image, folder, fresh_onnx):
    said = []
    for name in ("a.tif", "b.tif"):
        progress = SilentProgress()
        segment(SegmentRequest(image, os.path.join(folder, name), fresh_onnx, tile_size=128, overlap=32), progress)
        said.append([m for m in progress.messages if m.startswith("PRECISION auto") and "measuring" not in m])
    for lines in said:  # the choice and why, then the figures: two short lines, not one of ~400 characters
        assert len(lines) == 2 and len(lines[0]) < 160, lines
        assert "class agreement with fp32" in lines[0] and "Mpx per CPU-second" in lines[1]
    assert "measured now" in said[0][1]
    assert "measured earlier on this machine" in said[1][1] and "to measure again" in said[1][1]


def test_a_fixed_size_export_made_resizable_computes_the_same_function(tiny_models, tmp_path):
    resizable = str(tmp_path / "resizable.onnx")
    make_resizable(tiny_models[1], resizable)
    fixed, free = load_predictor(tiny_models[1], "cpu"), load_predictor(resizable, "cpu")
    assert fixed.info.fixed_tile_size == 256 and free.info.fixed_tile_size is None
    batch = np.random.default_rng(1).standard_normal((1, 4, 256, 256), dtype=np.float32)
    np.testing.assert_allclose(free.predict(batch), fixed.predict(batch), atol=1e-5)
    torch_model = load_predictor(tiny_models[0], "cpu")
    other = batch[:, :, :96, :160].copy()
    np.testing.assert_allclose(free.predict(other), torch_model.predict(other), atol=1e-4)


def test_runtime_copies_keep_the_deepness_metadata_and_the_model_file_stays_fixed_size(image, folder, tiny_models):
    import onnxruntime as ort

    from low2high.engine.inference.quantise import resizable_copy

    copy = resizable_copy(tiny_models[1])
    progress = SilentProgress()
    result = segment(SegmentRequest(image, os.path.join(folder, "m.tif"), tiny_models[1], tile_size=128, overlap=32,
                                    precision="fp32"), progress)
    assert not progress.warnings  # TILE_SIZE honoured: the copy takes any size
    keys = ("model_type", "class_names", "resolution", "tile_size", "tiles_overlap", "standardization_mean",
            "standardization_std")
    for path in (copy.path, tiny_models[1]):
        metadata = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
        assert all(key in metadata for key in keys)
    original = ort.InferenceSession(tiny_models[1], providers=["CPUExecutionProvider"])
    assert original.get_inputs()[0].shape[2:] == [256, 256]  # what Deepness reads as the tile size
    assert result.model.fixed_tile_size is None


def test_auto_with_a_cache_that_cannot_be_written_falls_back_with_a_warning(image, folder, fresh_onnx, tmp_path,
                                                                            monkeypatch):
    """PRECISION auto failed outright when the cold cache folder could not be written (int8 is built there)."""
    from low2high.engine.inference import model

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("LOW2HIGH_CACHE_DIR", str(blocker / "cache"))  # under a file: unwritable even for root
    monkeypatch.setattr(model, "cpu_flags", lambda: frozenset({"avx512_vnni", "avx512f", "avx2"}))
    progress = SilentProgress()
    segment(SegmentRequest(image, os.path.join(folder, "auto.tif"), fresh_onnx, tile_size=128, overlap=32), progress)
    assert np.isin(read(os.path.join(folder, "auto.tif"), 1), [0, 1, 2, 3]).all()
    assert any(warning.startswith("PRECISION auto: int8 left out (Cannot create the model cache folder")
               for warning in progress.warnings), progress.warnings
    chosen = next(i for i, m in enumerate(progress.messages) if m.startswith("PRECISION auto: fp32"))
    assert "measured now" in progress.messages[chosen + 1]  # the figures' line follows the choice's
