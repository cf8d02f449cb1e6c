"""Block alignment: n from pixel sizes, majority and nearest against numpy, the inverse aggregation."""
import os
from collections import Counter

import numpy as np
import pytest
from helpers import ORIGIN, make_raster, read
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Grid
from low2high.engine.labels.alignment import (
    AggregateRequest,
    AlignRequest,
    aggregate_labels,
    align_labels,
    block_grid,
    block_majority,
    resolve_factor,
)
from low2high.engine.labels.classes import MERGED_NAMES


def _majority_by_counting(block, nodata=255):
    """The most frequent value; ties to the lowest value, a class before nodata (counted in Python)."""
    counts = Counter(block.ravel().tolist())
    best = max(counts.values())
    tied = sorted(value for value, count in counts.items() if count == best)
    classes = [value for value in tied if value != nodata]
    return (classes or tied)[0]


def _expected_majority(labels, n, nodata=255):
    rows, cols = -(-labels.shape[0] // n), -(-labels.shape[1] // n)
    padded = np.full((rows * n, cols * n), nodata, labels.dtype)
    padded[: labels.shape[0], : labels.shape[1]] = labels
    return np.array([[_majority_by_counting(padded[r * n:(r + 1) * n, c * n:(c + 1) * n], nodata)
                      for c in range(cols)] for r in range(rows)])


@pytest.mark.parametrize("label_gsd,image_gsd,factor", [(30, 1, 30), (30, 0.6, 50), (30, 0.5, 60), (10, 1, 10)])
def test_factor_from_pixel_sizes(label_gsd, image_gsd, factor):
    progress = SilentProgress()
    assert resolve_factor(label_gsd, image_gsd, None, progress) == factor
    assert progress.warnings == []


def test_non_integer_ratio_is_rounded_with_a_warning():
    progress = SilentProgress()
    assert resolve_factor(30, 0.7, None, progress) == 43
    assert len(progress.warnings) == 1 and "not a whole multiple" in progress.warnings[0]
    assert "42.857" in progress.warnings[0]


def test_explicit_factor_for_labels_resampled_to_the_image_grid():
    progress = SilentProgress()
    assert resolve_factor(1, 1, 30, progress) == 30 and progress.warnings == []
    assert resolve_factor(30, 1, 10, progress) == 10
    assert "FACTOR 10 makes blocks of 10 m" in progress.warnings[0]


@pytest.mark.parametrize("label_gsd,image_gsd,message", [
    (0.5, 1, "finer than IMAGE"),
    (1, 1, "same pixel size as IMAGE"),
])
def test_labels_too_fine_for_blocks_are_refused(label_gsd, image_gsd, message):
    with pytest.raises(Low2HighError, match=message):
        resolve_factor(label_gsd, image_gsd, None, SilentProgress())


def test_block_grid_starts_on_the_image_corner_and_covers_it():
    image = Grid((1000.0, 0.6, 0.0, 5000.0, 0.0, -0.6), 101, 49, "")
    blocks = block_grid(image, 50)
    assert blocks.geotransform == (1000.0, 30.0, 0.0, 5000.0, 0.0, -30.0)
    assert (blocks.width, blocks.height) == (3, 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_block_majority_against_counting(dtype):
    rng = np.random.default_rng(1)
    for n in (2, 3, 5):
        labels = rng.choice(np.array([0, 1, 2, 3, 255], dtype), size=(n * 6, n * 4), p=[0.2, 0.2, 0.2, 0.1, 0.3])
        assert np.array_equal(block_majority(labels, n, 255), _expected_majority(labels, n))


def test_block_majority_ties_and_nodata():
    labels = np.array([[2, 1, 255, 1, 3, 3],
                       [1, 2, 1, 255, 255, 255]], np.uint8)
    # block 1: 1 and 2 tie → 1 (lowest); blocks 2 and 3: a class ties with nodata → the class
    assert block_majority(labels, 2, 255).tolist() == [[1, 1, 3]]
    assert block_majority(np.full((2, 2), 255, np.uint8), 2, 255).tolist() == [[255]]
    assert block_majority(np.array([[255, 255], [255, 1]], np.uint8), 2, 255).tolist() == [[255]]


def test_majority_alignment_of_labels_on_the_image_grid(folder):
    """NLCD delivered on the 1 m grid (as the shared data): FACTOR given, blocks get the majority."""
    rng = np.random.default_rng(3)
    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((97, 125), np.uint8))
    labels = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=(97, 125), p=[0.3, 0.3, 0.2, 0.1, 0.1])
    labels_path = make_raster(os.path.join(folder, "labels.tif"), labels, nodata=255)
    result = align_labels(AlignRequest(labels_path, image, os.path.join(folder, "aligned.tif"), factor=10,
                                       window_size=30))
    out = gdal.Open(result.output_path)
    assert out.GetGeoTransform() == (ORIGIN[0], 10.0, 0.0, ORIGIN[1], 0.0, -10.0)
    assert (out.RasterXSize, out.RasterYSize) == (13, 10)
    assert np.array_equal(out.ReadAsArray(), _expected_majority(labels, 10))
    band = out.GetRasterBand(1)
    assert band.GetNoDataValue() == 255 and band.GetRasterCategoryNames()[:4] == list(MERGED_NAMES)


def test_nearest_takes_the_label_under_the_block_centre(folder):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, size=(45, 60)).astype(np.uint8)
    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((45, 60), np.uint8))
    labels_path = make_raster(os.path.join(folder, "labels.tif"), labels)
    for n in (3, 4, 15):
        result = align_labels(AlignRequest(labels_path, image, os.path.join(folder, f"near{n}.tif"), factor=n,
                                           method="nearest"))
        expected = labels[n // 2::n, n // 2::n]
        out = read(result.output_path, 1)
        assert np.array_equal(out[: expected.shape[0], : expected.shape[1]], expected)
        assert (out[expected.shape[0]:] == 255).all()  # blocks whose centre lies past the labels' edge


def test_coarse_labels_in_another_crs_onto_a_0_6m_image(folder):
    """30 m Albers labels, 0.6 m UTM image: n = 50 from the pixel sizes, output on the image's block grid."""
    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((3, 250, 300), np.uint8), pixel_size=0.6)
    labels = make_raster(os.path.join(folder, "nlcd.tif"), np.full((40, 40), 41, np.uint8), pixel_size=30.0,
                         epsg=5070, origin=(1624000.0, 1930000.0))
    progress = SilentProgress()
    result = align_labels(AlignRequest(labels, image, os.path.join(folder, "aligned.tif")), progress)
    assert result.factor == 50 and progress.warnings == []
    out = gdal.Open(result.output_path)
    assert out.GetGeoTransform() == (ORIGIN[0], 30.0, 0.0, ORIGIN[1], 0.0, -30.0)
    assert (out.RasterXSize, out.RasterYSize) == (6, 5) and "26918" in out.GetProjection()


def test_labels_not_over_the_image_are_refused(folder):
    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((30, 30), np.uint8))
    elsewhere = make_raster(os.path.join(folder, "far.tif"), np.ones((3, 3), np.uint8), pixel_size=30.0,
                            origin=(ORIGIN[0] + 5000, ORIGIN[1]))
    with pytest.raises(Low2HighError, match="do not overlap"):
        align_labels(AlignRequest(elsewhere, image, os.path.join(folder, "a.tif")))
    floats = make_raster(os.path.join(folder, "f.tif"), np.ones((3, 3), np.float32), pixel_size=30.0)
    with pytest.raises(Low2HighError, match="LABELS holds Float32"):
        align_labels(AlignRequest(floats, image, os.path.join(folder, "b.tif")))


def test_aggregate_is_the_majority_of_fine_labels(folder):
    rng = np.random.default_rng(5)
    fine = rng.choice(np.array([0, 1, 2, 3], np.uint8), size=(64, 90))
    fine_path = make_raster(os.path.join(folder, "fine.tif"), fine, nodata=255)
    result = aggregate_labels(AggregateRequest(fine_path, os.path.join(folder, "coarse.tif"), factor=8))
    assert np.array_equal(read(result.output_path, 1), _expected_majority(fine, 8))
    coarse_reference = make_raster(os.path.join(folder, "nlcd.tif"), np.ones((3, 3), np.uint8), pixel_size=30.0)
    result = aggregate_labels(AggregateRequest(fine_path, os.path.join(folder, "coarse30.tif"),
                                               coarse_path=coarse_reference))
    assert result.factor == 30 and np.array_equal(read(result.output_path, 1), _expected_majority(fine, 30))
    with pytest.raises(Low2HighError, match="Give FACTOR"):
        aggregate_labels(AggregateRequest(fine_path, os.path.join(folder, "x.tif")))


def test_aggregate_keeps_source_codes_and_colours(folder):
    codes = np.kron(np.array([[41, 82], [21, 11]], np.uint8), np.ones((4, 4), np.uint8))
    path = make_raster(os.path.join(folder, "nlcd.tif"), codes, nodata=0)
    dataset = gdal.Open(path, gdal.GA_Update)
    table = gdal.ColorTable()
    table.SetColorEntry(41, (104, 171, 95, 255))
    dataset.GetRasterBand(1).SetRasterColorTable(table)
    dataset = None
    result = aggregate_labels(AggregateRequest(path, os.path.join(folder, "blocks.tif"), factor=4))
    dataset = gdal.Open(result.output_path)
    out = dataset.GetRasterBand(1)
    assert out.ReadAsArray().tolist() == [[41, 82], [21, 11]] and out.GetNoDataValue() == 0
    assert out.GetRasterColorTable().GetColorEntry(41)[:3] == (104, 171, 95)


def test_aggregate_refuses_a_factor_larger_than_the_raster_and_imagery(folder):
    fine = make_raster(os.path.join(folder, "fine.tif"), np.ones((40, 60), np.uint8))
    with pytest.raises(Low2HighError, match=r"FACTOR 50 is larger than the input raster \(60 × 40 pixels\): not one "
                                            r"whole block of 50 × 50 pixels fits\. Choose a FACTOR of at most 40\."):
        aggregate_labels(AggregateRequest(fine, os.path.join(folder, "blocks.tif"), factor=50))
    image = make_raster(os.path.join(folder, "image.tif"), np.ones((4, 40, 40), np.uint8))
    with pytest.raises(Low2HighError, match=r"The input has 4 bands, but a class raster has one band of class codes"):
        aggregate_labels(AggregateRequest(image, os.path.join(folder, "blocks.tif"), factor=4))
    empty = make_raster(os.path.join(folder, "empty.tif"), np.full((40, 40), 255, np.uint8), nodata=255)
    with pytest.raises(Low2HighError, match="The input class raster holds no data: every block is nodata"):
        aggregate_labels(AggregateRequest(empty, os.path.join(folder, "blocks.tif"), factor=4))
    assert sorted(os.listdir(folder)) == ["empty.tif", "fine.tif", "image.tif"]


def test_an_image_given_as_labels_is_refused(folder):
    """A 4-band image as LABELS was aligned as codes from its red band, rc 0 (issue 18's sweep)."""
    image = make_raster(os.path.join(folder, "image.tif"), np.zeros((4, 60, 60), np.uint8))
    target = os.path.join(folder, "aligned.tif")
    with pytest.raises(Low2HighError, match="LABELS has 4 bands, but a class raster has one band"):
        align_labels(AlignRequest(image, image, target, factor=30))
    assert not os.path.exists(target)
