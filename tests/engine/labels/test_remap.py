"""remap: lookup table over windows, nodata, unknown codes (warning vs strict), styled output, bad input."""
import os

import numpy as np
import pytest
from helpers import make_raster, read
from osgeo import gdal

from low2high.core.errors import Cancelled, Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.labels.classes import MERGED_COLOURS, MERGED_NAMES
from low2high.engine.labels.remap import RemapRequest, remap

NLCD_CODES = [11, 12, 21, 22, 23, 24, 31, 41, 42, 43, 51, 52, 71, 72, 73, 74, 81, 82, 90, 95]
# Table S1, independently of the JSON file: developed and barren → impervious, forests, shrubs and woody
# wetlands → forest, herbaceous, crops and emergent wetlands → field, ice → ignore.
EXPECTED = {11: 0, 12: 255, 21: 3, 22: 3, 23: 3, 24: 3, 31: 3, 41: 1, 42: 1, 43: 1, 51: 1, 52: 1,
            71: 2, 72: 2, 73: 2, 74: 2, 81: 2, 82: 2, 90: 1, 95: 2}


def _expected(codes, mapping, nodata=None):
    out = np.full(codes.shape, 255, np.uint8)
    for code, merged in mapping.items():
        out[codes == code] = merged
    if nodata is not None:
        out[codes == nodata] = 255
    return out


class Stop(SilentProgress):
    def __init__(self, after):
        super().__init__()
        self.calls, self.after = 0, after

    def is_canceled(self):
        self.calls += 1
        return self.calls > self.after


def test_remap_streams_a_raster_larger_than_the_window(folder):
    rng = np.random.default_rng(0)
    codes = rng.choice(np.array(NLCD_CODES, np.uint8), size=(150, 230))
    source = make_raster(os.path.join(folder, "nlcd.tif"), codes)
    progress = SilentProgress()
    result = remap(RemapRequest(source, os.path.join(folder, "out.tif"), "nlcd", window_size=64), progress)
    out = read(result.output_path, 1)
    assert out.dtype == np.uint8 and np.array_equal(out, _expected(codes, EXPECTED))
    assert result.class_counts.tolist() == [int((out == k).sum()) for k in range(4)]
    assert result.nodata_pixels == int((codes == 12).sum()) and progress.warnings == []


def test_output_is_a_styled_class_raster(folder):
    source = make_raster(os.path.join(folder, "lc.tif"), np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    result = remap(RemapRequest(source, os.path.join(folder, "out.tif"), "chesapeake"))
    dataset = gdal.Open(result.output_path)
    band = dataset.GetRasterBand(1)
    assert band.ReadAsArray().tolist() == [[0, 1, 2], [3, 3, 3]]
    assert band.GetNoDataValue() == 255 and band.DataType == gdal.GDT_Byte
    table = band.GetRasterColorTable()
    assert [table.GetColorEntry(k)[:3] for k in range(4)] == [tuple(c) for c in MERGED_COLOURS]
    assert band.GetRasterCategoryNames()[:4] == list(MERGED_NAMES)
    assert dataset.GetGeoTransform() == gdal.Open(source).GetGeoTransform()
    assert os.path.exists(os.path.join(folder, "out.qml"))  # QGIS legend lists just the four classes


def test_source_nodata_becomes_255(folder):
    codes = np.array([[0, 11, 41], [0, 82, 21]], np.uint8)
    source = make_raster(os.path.join(folder, "nlcd.tif"), codes, nodata=0)
    result = remap(RemapRequest(source, os.path.join(folder, "out.tif"), "nlcd"))
    assert read(result.output_path, 1).tolist() == [[255, 0, 1], [255, 2, 3]]


def test_unknown_codes_warn_once_with_counts_per_code(folder):
    codes = np.full((40, 80), 41, np.uint8)
    codes[:25, :80] = 13  # 2,000 pixels
    codes[30:, :7] = 99  # 70 pixels
    source = make_raster(os.path.join(folder, "nlcd.tif"), codes)
    progress = SilentProgress()
    result = remap(RemapRequest(source, os.path.join(folder, "out.tif"), "nlcd", window_size=16), progress)
    assert progress.warnings == ["2,070 pixels with codes 13 (2,000), 99 (70) are not in the NLCD taxonomy "
                                 "and were set to nodata."]
    assert result.unknown == {13: 2000, 99: 70}
    out = read(result.output_path, 1)
    assert (out[codes == 13] == 255).all() and (out[codes == 41] == 1).all()


def test_strict_mode_refuses_unknown_codes_and_writes_nothing(folder):
    codes = np.full((20, 20), 41, np.uint8)
    codes[0, :3] = 13
    source = make_raster(os.path.join(folder, "nlcd.tif"), codes)
    output = os.path.join(folder, "out.tif")
    with pytest.raises(Low2HighError) as error:
        remap(RemapRequest(source, output, "nlcd", strict=True))
    assert "codes that are not in the NLCD taxonomy: 13 (3 pixels)" in str(error.value)
    assert sorted(os.listdir(folder)) == ["nlcd.tif"]


def test_custom_mapping_on_uint16_and_int16_labels(folder):
    codes = np.array([[1000, 2000, 7], [65535, 1000, 2000]], np.uint16)
    source = make_raster(os.path.join(folder, "u16.tif"), codes)
    result = remap(RemapRequest(source, os.path.join(folder, "out.tif"), "custom", "1000:water,2000:impervious"),
                   SilentProgress())
    assert read(result.output_path, 1).tolist() == [[0, 3, 255], [255, 0, 3]]
    assert result.unknown == {7: 1, 65535: 1}
    signed = make_raster(os.path.join(folder, "i16.tif"), np.array([[-5, 3], [300, 3]], np.int16))
    result = remap(RemapRequest(signed, os.path.join(folder, "out2.tif"), "custom", "3:forest,300:field"))
    assert read(result.output_path, 1).tolist() == [[255, 1], [2, 1]]
    assert result.unknown == {-5: 1}


def test_float_labels_are_refused(folder):
    source = make_raster(os.path.join(folder, "float.tif"), np.full((4, 4), 41.0, np.float32))
    with pytest.raises(Low2HighError, match="holds Float32 values, but a class raster must hold whole-number"):
        remap(RemapRequest(source, os.path.join(folder, "out.tif"), "nlcd"))


def test_output_equal_to_input_and_bad_mapping_are_refused(folder):
    source = make_raster(os.path.join(folder, "nlcd.tif"), np.full((4, 4), 41, np.uint8))
    with pytest.raises(Low2HighError, match="same file as an input"):
        remap(RemapRequest(source, source, "nlcd"))
    with pytest.raises(Low2HighError, match=r"MAPPING item 2 \('41 forest'\)"):
        remap(RemapRequest(source, os.path.join(folder, "out.tif"), "custom", "11:water,41 forest"))


def test_cancel_leaves_nothing(folder):
    source = make_raster(os.path.join(folder, "nlcd.tif"), np.full((64, 64), 41, np.uint8))
    with pytest.raises(Cancelled):
        remap(RemapRequest(source, os.path.join(folder, "out.tif"), "nlcd", window_size=16), Stop(after=3))
    assert sorted(os.listdir(folder)) == ["nlcd.tif"]


@pytest.mark.parametrize("code", [3000000000, 99999999999])
def test_codes_a_byte_raster_cannot_hold_are_refused_at_once(folder, code):
    labels = make_raster(os.path.join(folder, "labels.tif"), np.full((64, 64), 11, np.uint8))
    with pytest.raises(Low2HighError, match=rf"gives code\(s\) {code}, which the input label raster \(Byte, codes "
                                            r"0–255\) can never hold; correct those codes in MAPPING"):
        remap(RemapRequest(labels, os.path.join(folder, "out.tif"), taxonomy="custom",
                           mapping=f"{code}:water,11:forest"))
    assert sorted(os.listdir(folder)) == ["labels.tif"]


def test_wide_codes_cost_memory_of_the_window_not_of_the_largest_code(folder):
    import tracemalloc

    codes = np.where(np.arange(256 * 256).reshape(256, 256) % 3, 2_000_000_000, 41).astype(np.int32)
    codes[0, :5] = 7  # unknown
    labels = make_raster(os.path.join(folder, "labels.tif"), codes)
    progress = SilentProgress()
    tracemalloc.start()
    try:
        result = remap(RemapRequest(labels, os.path.join(folder, "out.tif"), taxonomy="custom",
                                    mapping="2000000000:water,41:forest"), progress)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2 ** 20  # a dense table for code 2e9 would take 2 GB (4 GB with its 'known' twin)
    np.testing.assert_array_equal(read(result.output_path, 1), _expected(codes, {2_000_000_000: 0, 41: 1}))
    assert result.unknown == {7: 5}


def test_a_table_saved_by_excel_in_windows_1252_is_read_with_a_note(folder):
    labels = make_raster(os.path.join(folder, "labels.tif"), np.array([[11, 41], [41, 82]], np.uint8))
    table = os.path.join(folder, "classes.csv")
    with open(table, "wb") as handle:
        handle.write("code;class;name\r\n11;water;Eau\r\n41;forest;Forêt\r\n82;field;Prairie\r\n".encode("cp1252"))
    progress = SilentProgress()
    result = remap(RemapRequest(labels, os.path.join(folder, "out.tif"), taxonomy="custom", mapping=table), progress)
    assert [item.name for item in result.taxonomy.classes] == ["Eau", "Forêt", "Prairie"]
    assert progress.warnings == ["'classes.csv' is not UTF-8 (byte 0xEA on line 3); it was read as Windows-1252. "
                                 "If class names look wrong, save it as 'CSV UTF-8'."]
    np.testing.assert_array_equal(read(result.output_path, 1), [[0, 1], [1, 2]])


def test_a_json_table_that_is_not_utf8_is_named(folder):
    labels = make_raster(os.path.join(folder, "labels.tif"), np.full((4, 4), 41, np.uint8))
    table = os.path.join(folder, "classes.json")
    with open(table, "wb") as handle:
        handle.write('{"41": {"class": "forest", "name": "Forêt"}}'.encode("latin-1"))
    with pytest.raises(Low2HighError, match=r"'classes.json' is not UTF-8 text \(byte 0xEA\); JSON files must be "
                                            "UTF-8: save it as UTF-8 and run again"):
        remap(RemapRequest(labels, os.path.join(folder, "out.tif"), taxonomy="custom", mapping=table))
