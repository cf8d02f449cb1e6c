"""Exemplar sources: dataset fine labels or a class raster; empty sets and other taxonomies refused."""
import numpy as np
import pytest
from helpers import make_raster
from train_helpers import synthetic_chip, write_dataset

from low2high.core.errors import Low2HighError
from low2high.train.data.exemplars import ExemplarSource


def test_exemplars_from_dataset_splits_are_label_crops(chip_dataset):
    source = ExemplarSource.from_dataset(chip_dataset, ["held-out"], crop=32)
    crops = source.sample(6, np.random.default_rng(0))
    assert crops.shape == (6, 32, 32) and crops.dtype == np.uint8 and crops.max() <= 3
    again = source.sample(6, np.random.default_rng(0))
    assert np.array_equal(crops, again)  # reproducible from the generator
    assert "held-out" in source.description


def test_exemplars_from_a_class_raster_by_windows(tmp_path):
    labels = np.full((300, 200), 255, np.uint8)
    labels[:, :100] = (np.arange(300)[:, None] // 25 % 4).astype(np.uint8)  # stripes on the left half
    path = make_raster(str(tmp_path / "lc.tif"), labels, nodata=255)
    source = ExemplarSource.from_raster(path, crop=64)
    crops = source.sample(20, np.random.default_rng(1))
    assert crops.shape == (20, 64, 64) and crops.max() <= 3  # no nodata in what the discriminator sees
    assert len(np.unique(crops)) > 1


def test_crops_that_are_only_nodata_are_never_used(tmp_path):
    labels = np.full((256, 256), 255, np.uint8)
    labels[:100, :100] = 2  # a labelled corner: most crops are holes
    source = ExemplarSource.from_raster(make_raster(str(tmp_path / "lc.tif"), labels, nodata=255), crop=32)
    crops = source.sample(10, np.random.default_rng(2))
    assert (crops == 2).all()


def test_empty_exemplar_sets_are_refused(tmp_path):
    empty = make_raster(str(tmp_path / "empty.tif"), np.full((100, 100), 255, np.uint8), nodata=255)
    with pytest.raises(Low2HighError, match="exemplar set is empty"):
        ExemplarSource.from_raster(empty, crop=32)
    chip = synthetic_chip("held-out", 0)
    chip["fine"] = np.full_like(chip["fine"], 255)
    folder = write_dataset(str(tmp_path / "ds"), [synthetic_chip("train", 1), chip])
    with pytest.raises(Low2HighError, match="exemplar set is empty"):
        ExemplarSource.from_dataset(folder, ["held-out"], crop=32)


def test_exemplars_in_another_taxonomy_are_refused(tmp_path):
    chesapeake = (np.arange(100 * 100).reshape(100, 100) % 6 + 1).astype(np.uint8)  # codes 1–6
    path = make_raster(str(tmp_path / "lc.tif"), chesapeake)
    with pytest.raises(Low2HighError, match="not classes 0–3.*: 4, 5, 6. Run low2high:remap"):
        ExemplarSource.from_raster(path, crop=32)
    chip = synthetic_chip("held-out", 0)
    chip["fine"][:4] = 21  # an NLCD code
    folder = write_dataset(str(tmp_path / "ds"), [synthetic_chip("train", 1), chip])
    with pytest.raises(Low2HighError, match="not classes 0–3 .*: 21"):
        ExemplarSource.from_dataset(folder, ["held-out"], crop=32)


def test_crop_larger_than_the_source_is_refused(tmp_path, chip_dataset):
    with pytest.raises(Low2HighError, match="larger than the chips"):
        ExemplarSource.from_dataset(chip_dataset, ["held-out"], crop=128)
    small = make_raster(str(tmp_path / "small.tif"), np.zeros((50, 50), np.uint8))
    with pytest.raises(Low2HighError, match="smaller than the exemplar crop"):
        ExemplarSource.from_raster(small, crop=64)
