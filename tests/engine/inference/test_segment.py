"""``segment`` end to end on small rasters made here: outputs, options, and every bad input."""
import os

import numpy as np
import pytest
from helpers import make_model, make_raster, read, scene
from osgeo import gdal

from low2high.core.errors import Cancelled, Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.inference.segment import SegmentRequest, segment


@pytest.fixture
def image(folder):
    pixels, _ = scene(300, 420, seed=1)
    return make_raster(os.path.join(folder, "image.tif"), pixels)


def run(image, folder, model, **options):
    options.setdefault("tile_size", 128)
    options.setdefault("overlap", 32)
    options.setdefault("precision", "fp32")  # the reference; precisions have their own tests
    return segment(SegmentRequest(image, os.path.join(folder, options.pop("name", "map.tif")), model, **options))


def test_output_is_a_styled_byte_class_raster_on_the_input_grid(image, folder, tiny_models):
    result = run(image, folder, tiny_models[0])
    out, src = gdal.Open(result.output_path), gdal.Open(image)
    band = out.GetRasterBand(1)
    assert (out.RasterCount, out.RasterXSize, out.RasterYSize) == (1, 420, 300)
    assert out.GetGeoTransform() == src.GetGeoTransform() and out.GetProjection() == src.GetProjection()
    assert band.DataType == gdal.GDT_Byte and band.GetNoDataValue() == 255
    assert band.GetRasterCategoryNames() == ["water", "forest", "field", "impervious"]
    table = band.GetColorTable()
    colours = [(38, 115, 222), (27, 120, 55), (182, 220, 110), (190, 70, 60)]
    assert [table.GetColorEntry(code)[:3] for code in range(4)] == colours
    classes = band.ReadAsArray()
    assert classes.max() <= 3 and result.stats.class_counts[:4].sum() == classes.size
    assert sorted(os.listdir(folder)) == ["image.tif", "map.qml", "map.tif", "map.tif.aux.xml"]


def test_probabilities_are_percentages_per_class(image, folder, tiny_models):
    result = run(image, folder, tiny_models[0], probabilities_path=os.path.join(folder, "p.tif"))
    percent = read(result.probabilities_path).astype(int)
    assert percent.shape == (4, 300, 420) and percent.max() <= 100
    assert np.abs(percent.sum(axis=0) - 100).max() <= 2
    classes = read(result.output_path)
    chosen = np.take_along_axis(percent, classes[None].astype(int), 0)[0]
    assert (chosen >= percent.max(axis=0) - 1).all()  # the class is the most probable (to rounding)


def test_torch_and_onnx_backends_agree(image, folder, tiny_models):
    from low2high.engine.inference.model import load_predictor

    checkpoint_map = read(run(image, folder, tiny_models[0], name="t.tif", tile_size=256).output_path)
    onnx_result = run(image, folder, tiny_models[1], name="o.tif", tile_size=256)  # exported for 256-px tiles
    assert onnx_result.model.backend == "onnx"
    assert (read(onnx_result.output_path) == checkpoint_map).mean() > 0.999
    torch, onnx = load_predictor(tiny_models[0], "cpu"), load_predictor(tiny_models[1], "cpu")
    assert torch.info.backend == "torch"  # fp32 of a .pt on CPU runs its ONNX export in segment; PyTorch here
    batch = np.random.default_rng(2).standard_normal((2, 4, 256, 256), dtype=np.float32)
    np.testing.assert_allclose(torch.predict(batch), onnx.predict(batch), atol=1e-4)


def test_nodata_pixels_stay_nodata_and_empty_tiles_are_skipped(folder, tiny_models):
    pixels, _ = scene(256, 512, seed=2)
    pixels[:, :, 256:] = 0  # right half: no data
    pixels[:, 10:20, 30:40] = 0  # a hole
    path = make_raster(os.path.join(folder, "holes.tif"), pixels, nodata=0)
    result = run(path, folder, tiny_models[0])
    classes = read(result.output_path)
    assert (classes[:, 256:] == 255).all() and (classes[10:20, 30:40] == 255).all()
    assert (classes[:, :250] != 255).mean() > 0.99
    assert result.stats.tiles_predicted < result.stats.tiles


def test_extent_limits_work_and_output(image, folder, tiny_models):
    x0, y0 = gdal.Open(image).GetGeoTransform()[0], gdal.Open(image).GetGeoTransform()[3]
    extent = (x0 + 100.4, y0 - 250.0, x0 + 300.0, y0 - 50.2)  # snapped outward to pixels
    result = run(image, folder, tiny_models[0], extent=extent)
    out = gdal.Open(result.output_path)
    assert (out.RasterXSize, out.RasterYSize) == (200, 200)
    assert out.GetGeoTransform()[0] == x0 + 100 and out.GetGeoTransform()[3] == y0 - 50


def test_mask_polygons_limit_the_map(image, folder, tiny_models):
    x0, y0 = gdal.Open(image).GetGeoTransform()[0], gdal.Open(image).GetGeoTransform()[3]
    corners = [(x0 + 10, y0 - 10), (x0 + 110, y0 - 10), (x0 + 110, y0 - 110), (x0 + 10, y0 - 110), (x0 + 10, y0 - 10)]
    square = "POLYGON((" + ",".join(f"{x} {y}" for x, y in corners) + "))"
    triangle = f"POLYGON(({x0 + 200} {y0 - 10},{x0 + 300} {y0 - 10},{x0 + 200} {y0 - 110},{x0 + 200} {y0 - 10}))"
    result = run(image, folder, tiny_models[0], mask_wkt=[square, triangle, "POLYGON EMPTY"])
    classes = read(result.output_path)
    assert classes.shape == (100, 290)  # the polygons' bounding box
    assert (classes[:, :100] != 255).all()  # inside the square
    assert (classes[:, 100:190] == 255).all()  # between the polygons
    assert (classes[0, 190:] != 255).sum() > 90 and (classes[-1, 191:] == 255).all()  # triangle


def test_raster_smaller_than_one_tile_works(folder, tiny_models):
    pixels, _ = scene(37, 50, seed=3)
    path = make_raster(os.path.join(folder, "small.tif"), pixels)
    classes = read(run(path, folder, tiny_models[0], tile_size=256).output_path)
    assert classes.shape == (37, 50) and classes.max() <= 3


def test_different_pixel_size_is_resampled_with_a_warning(folder, tiny_models):
    pixels, _ = scene(200, 160, seed=4)
    path = make_raster(os.path.join(folder, "half_metre.tif"), pixels, pixel_size=0.5)
    progress = SilentProgress()
    result = segment(SegmentRequest(path, os.path.join(folder, "map.tif"), tiny_models[0], tile_size=128), progress)
    assert any("resampled" in warning for warning in progress.warnings)
    out = gdal.Open(result.output_path)
    assert (out.RasterXSize, out.RasterYSize) == (160, 200) and out.GetGeoTransform()[1] == 0.5
    assert out.GetRasterBand(1).GetRasterCategoryNames()[:4] == ["water", "forest", "field", "impervious"]
    assert sorted(os.listdir(folder)) == ["half_metre.tif", "map.qml", "map.tif", "map.tif.aux.xml"]


class CancelAfter(SilentProgress):
    """Cancels once ``calls`` progress reports have been made."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def set_fraction(self, fraction: float) -> None:
        self.calls -= 1

    def is_canceled(self) -> bool:
        return self.calls <= 0


def test_cancel_mid_run_leaves_nothing_and_keeps_an_existing_output(image, folder, tiny_models):
    existing = os.path.join(folder, "map.tif")
    with open(existing, "wb") as handle:
        handle.write(b"previous result")
    with pytest.raises(Cancelled):
        segment(SegmentRequest(image, existing, tiny_models[0], tile_size=64, overlap=16), CancelAfter(3))
    assert sorted(os.listdir(folder)) == ["image.tif", "map.tif"]
    assert open(existing, "rb").read() == b"previous result"


# --- bad input: each a sentence, nothing written ---------------------------------------------

def expect_error(folder, request, *words):
    before = set(os.listdir(folder))
    with pytest.raises(Low2HighError) as caught:
        segment(request)
    message = str(caught.value)
    for word in words:
        assert word.lower() in message.lower(), message
    assert set(os.listdir(folder)) == before, "a failed run left files behind"
    return message


def test_not_a_raster(folder, tiny_models):
    text = os.path.join(folder, "notes.tif")
    with open(text, "w") as handle:
        handle.write("not an image")
    expect_error(folder, SegmentRequest(text, os.path.join(folder, "o.tif"), tiny_models[0]), "not a raster")
    expect_error(folder, SegmentRequest(os.path.join(folder, "missing.tif"), os.path.join(folder, "o.tif"),
                                        tiny_models[0]), "does not exist")


def test_wrong_band_count(folder, tiny_models):
    pixels, _ = scene(64, 64, bands=3)
    path = make_raster(os.path.join(folder, "rgb.tif"), pixels)
    expect_error(folder, SegmentRequest(path, os.path.join(folder, "o.tif"), tiny_models[0]), "expects 4 bands",
                 "has 3")


def test_a_model_taking_fewer_bands_gets_the_first_ones_with_a_warning(image, folder):
    rgb_model = make_model(os.path.join(folder, "rgb.pt"), bands=3)
    progress = SilentProgress()
    result = segment(SegmentRequest(image, os.path.join(folder, "o.tif"), rgb_model, precision="fp32"), progress)
    assert any("raster bands 1, 2, 3 feed it as red, green, blue" in warning for warning in progress.warnings)
    rgb = make_raster(os.path.join(folder, "rgb.tif"), read(image)[:3])
    alone = segment(SegmentRequest(rgb, os.path.join(folder, "rgb-map.tif"), rgb_model, precision="fp32"))
    assert (read(result.output_path) == read(alone.output_path)).all()


def test_no_crs(folder, tiny_models):
    pixels, _ = scene(64, 64)
    path = make_raster(os.path.join(folder, "nocrs.tif"), pixels, epsg=None)
    expect_error(folder, SegmentRequest(path, os.path.join(folder, "o.tif"), tiny_models[0]),
                 "no coordinate reference system")


def test_not_eight_bit(folder, tiny_models):
    pixels, _ = scene(64, 64)
    path = make_raster(os.path.join(folder, "u16.tif"), pixels.astype(np.uint16) * 100)
    expect_error(folder, SegmentRequest(path, os.path.join(folder, "o.tif"), tiny_models[0]), "8-bit", "UInt16")


def test_extent_and_mask_outside_the_raster(image, folder, tiny_models):
    far = (0.0, 0.0, 10.0, 10.0)
    out = os.path.join(folder, "o.tif")
    expect_error(folder, SegmentRequest(image, out, tiny_models[0], extent=far), "EXTENT lies outside")
    polygon = "POLYGON((0 0,10 0,10 10,0 10,0 0))"
    expect_error(folder, SegmentRequest(image, out, tiny_models[0], mask_wkt=[polygon]), "MASK polygons lie outside")
    expect_error(folder, SegmentRequest(image, out, tiny_models[0], mask_wkt=[]), "no polygon")


def test_all_nodata(folder, tiny_models):
    path = make_raster(os.path.join(folder, "empty.tif"), np.zeros((4, 100, 100), np.uint8), nodata=0)
    expect_error(folder, SegmentRequest(path, os.path.join(folder, "o.tif"), tiny_models[0]), "nodata")


def test_output_equal_to_input(image, folder, tiny_models):
    expect_error(folder, SegmentRequest(image, image, tiny_models[0]), "same file as an input")
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.png"), tiny_models[0]), "GeoTIFF")


@pytest.mark.parametrize("content,words", [
    (b"\x00\x01garbage" * 100, ["not a pytorch model file"]),
    (None, ["bare network weights"]),  # a plain state_dict: not ours
])
def test_foreign_model_files(image, folder, content, words):
    import torch

    path = os.path.join(folder, "foreign.pt")
    if content is None:
        torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    else:
        with open(path, "wb") as handle:
            handle.write(content)
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), path), *words)


def test_truncated_model_files(image, folder, tiny_models):
    for source in tiny_models:
        data = open(source, "rb").read()
        broken = os.path.join(folder, "broken" + os.path.splitext(source)[1])
        with open(broken, "wb") as handle:
            handle.write(data[: len(data) // 2])
        expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), broken), "damaged")


def test_foreign_onnx_model(image, folder):
    import torch

    path = os.path.join(folder, "foreign.onnx")
    torch.onnx.export(torch.nn.Conv2d(4, 4, 1), torch.zeros(1, 4, 32, 32), path, dynamo=False)
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), path), "not a Low2High model")


def test_unknown_model_extension_and_device(image, folder, tiny_models):
    other = os.path.join(folder, "model.h5")
    open(other, "wb").close()
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), other), ".pt", ".onnx")
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), tiny_models[0], device="tpu"), "DEVICE")


def test_cuda_asked_for_without_a_gpu(image, folder, tiny_models):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    expect_error(folder, SegmentRequest(image, os.path.join(folder, "o.tif"), tiny_models[0], device="cuda"), "cuda")


def test_one_opened_model_classifies_several_rasters_as_segment_does(image, folder, tiny_models):
    """segment_with is the engine entry point for callers classifying many rasters with one opening."""
    from low2high.engine.inference.model import open_model
    from low2high.engine.inference.segment import segment_with

    model = open_model(tiny_models[0], "cpu")
    other = make_raster(os.path.join(folder, "other.tif"), scene(200, 260, seed=5)[0])
    for index, raster in enumerate((image, other)):
        request = SegmentRequest(raster, os.path.join(folder, f"with-{index}.tif"), tile_size=128, overlap=32,
                                 precision="fp32", device="cpu")
        reused = segment_with(model, request)
        assert reused.model.path == tiny_models[0]
        expected = run(raster, folder, tiny_models[0], name=f"plain-{index}.tif")
        np.testing.assert_array_equal(read(reused.output_path), read(expected.output_path))


def test_an_onnx_model_is_parsed_once_per_run(folder, tiny_models, monkeypatch):
    """Its card and its fp32 runs come from one ONNX Runtime session (a second one parsed and
    optimised the whole graph again just to read the card)."""
    from low2high.engine.inference.quantise import make_resizable
    from low2high.models import onnx_card

    resizable = os.path.join(folder, "resizable.onnx")
    make_resizable(tiny_models[1], resizable)  # runs as it is: no resizable copy to open
    opened = []
    real = onnx_card.open_onnx_session
    monkeypatch.setattr(onnx_card, "open_onnx_session",
                        lambda path, *rest, **options: opened.append(path) or real(path, *rest, **options))
    pixels, _ = scene(200, 260, seed=6)
    result = run(make_raster(os.path.join(folder, "small.tif"), pixels), folder, resizable)
    assert result.model.backend == "onnx" and opened == [resizable]
