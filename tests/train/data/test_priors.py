"""Coarse priors: counted from overlapping rasters, read from hand-written JSON, bad tables refused."""
import json

import numpy as np
import pytest
from helpers import make_raster
from train_helpers import NLCD

from low2high.core.errors import Low2HighError
from low2high.train.cli import main
from low2high.train.data.chips import RAW_NODATA, load_chip
from low2high.train.data.info import read_dataset_info, select_chips
from low2high.train.data.priors import count_prior, missing_codes, parse_prior, read_prior


class Recorder:
    def __init__(self):
        self.warnings = []

    def info(self, message):
        pass

    def warn(self, message):
        self.warnings.append(message)


def _labels(tmp_path):
    """Fine Chesapeake codes under a 2 × 2 grid of 8 m NLCD cells: code 21 holds half tree, half lawn."""
    fine = np.zeros((16, 16), np.uint8)
    fine[:, :] = 2  # tree
    fine[:8, :4] = 3  # lawn in the top-left cell's left half
    fine[8:, 8:] = 5  # impervious under 24
    coarse = np.array([[21, 41], [41, 24]], np.uint8)
    return make_raster(str(tmp_path / "lc.tif"), fine), make_raster(str(tmp_path / "nlcd.tif"), coarse, pixel_size=8.0)


def test_counted_prior_is_the_share_of_fine_classes_under_each_code(tmp_path):
    fine, coarse = _labels(tmp_path)
    prior = count_prior(fine, coarse)
    assert prior.rows[21] == pytest.approx([0, 0.5, 0.5, 0]) and prior.pixels[21] == [0, 32, 32, 0]
    assert prior.rows[24] == pytest.approx([0, 0, 0, 1]) and prior.rows[41] == pytest.approx([0, 1, 0, 0])
    region = count_prior(fine, coarse, region="pixels:0,0,8,8")
    assert sorted(region.rows) == [21]


def test_fill_missing_gives_unseen_codes_their_taxonomy_class_and_no_counts(tmp_path):
    fine, coarse = _labels(tmp_path)
    recorder = Recorder()
    filled = count_prior(fine, coarse, region="pixels:0,0,8,8", fill_missing=True, progress=recorder)
    assert filled.rows[21] == pytest.approx([0, 0.5, 0.5, 0])  # counted rows stay as counted
    assert filled.rows[11] == [1.0, 0.0, 0.0, 0.0] and filled.pixels[11] == [0, 0, 0, 0]  # open water
    assert filled.rows[41] == [0.0, 1.0, 0.0, 0.0] and filled.rows[24] == [0.0, 0.0, 0.0, 1.0]
    assert "11" in filled.source and 0 not in filled.rows  # NLCD 0 is unlabelled: no row
    output = tmp_path / "filled.json"
    assert main(["coarse-prior", "--fine-labels", fine, "--coarse-labels", coarse, "--output", str(output),
                 "--region", "pixels:0,0,8,8", "--fill-missing", "true"]) == 0
    assert read_prior(str(output)).rows == filled.rows


def test_the_command_writes_readable_json_that_reads_back(tmp_path, capsys):
    fine, coarse = _labels(tmp_path)
    output = tmp_path / "prior.json"
    assert main(["coarse-prior", "--fine-labels", fine, "--coarse-labels", coarse, "--output", str(output)]) == 0
    data = json.loads(output.read_text())
    assert data["codes"]["21"]["pixels"] == [0, 32, 32, 0] and "50.0%" in capsys.readouterr().out
    assert read_prior(str(output)).rows == count_prior(fine, coarse).rows


def test_rasters_that_do_not_overlap_are_refused(tmp_path):
    fine, _ = _labels(tmp_path)
    far = make_raster(str(tmp_path / "far.tif"), np.full((2, 2), 41, np.uint8), pixel_size=8.0,
                      origin=(900000.0, 100000.0))
    with pytest.raises(Low2HighError, match="overlap|do not cover"):
        count_prior(fine, far)


def test_rows_not_summing_to_one_are_normalised_with_a_warning():
    recorder = Recorder()
    prior = parse_prior({"codes": {"21": [0, 2, 2, 0], "41": {"p": [0, 1, 0, 0]}}}, "test", recorder)
    assert prior.rows[21] == pytest.approx([0, 0.5, 0.5, 0])
    assert len(recorder.warnings) == 1 and "21 (4)" in recorder.warnings[0]


@pytest.mark.parametrize("codes, message", [({"21": [0, -0.1, 1.1, 0]}, "negative"), ({"21": [0, 1, 0]}, "4 prob"),
                                            ({"21": [0, 0, 0, 0]}, "only zeros"), ({"x": [1, 0, 0, 0]}, "whole"),
                                            ({"21": [0, "a", 1, 0]}, "not a number")])
def test_bad_tables_are_refused_with_a_sentence(codes, message):
    with pytest.raises(Low2HighError, match=message):
        parse_prior({"codes": codes}, "test")


def test_missing_codes_are_counted_by_block():
    prior = parse_prior({"codes": {"41": [0, 1, 0, 0]}}, "test")
    codes = np.array([[41, 21], [21, RAW_NODATA]])
    assert missing_codes(prior, codes) == {21: 2}
    table = prior.table()
    assert np.isnan(table[21]).all() and table[41].tolist() == [0, 1, 0, 0]


def test_unreadable_files_are_clear(tmp_path):
    with pytest.raises(Low2HighError, match="does not exist"):
        read_prior(str(tmp_path / "none.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(Low2HighError, match="not readable JSON"):
        read_prior(str(tmp_path / "bad.json"))


def test_chips_keep_the_raw_coarse_codes_beside_the_merged_ones(chip_dataset):
    info = read_dataset_info(chip_dataset)
    chip = load_chip(select_chips(info, ["all"])[0]["path"])
    raw, merged = chip["coarse_raw"], chip["coarse"]
    assert raw.dtype == np.uint16 and raw.shape == merged.shape
    labelled = merged != 255
    assert (NLCD[merged[labelled]] == raw[labelled]).all() and (raw[~labelled] == RAW_NODATA).all()


def test_training_samples_carry_the_raw_codes_cropped_and_turned_with_the_labels(chip_dataset):
    from low2high.train.data.datasets import ChipDataset

    data = ChipDataset(chip_dataset, ["train"], crop=64, augment=True, raw_coarse=True, photometric=1.0)
    sample = data[0]
    assert sample["coarse_raw"].shape == sample["coarse"].shape == (8, 8)
    labelled = sample["coarse"] != 255
    assert (NLCD[sample["coarse"][labelled]] == sample["coarse_raw"][labelled]).all()


def test_an_image_given_as_labels_is_refused_with_a_sentence(tmp_path, capsys):
    """A 4-band image as --fine-labels was accepted and gave a prior "counted" on 2 pixels."""
    _, coarse = _labels(tmp_path)
    image = make_raster(str(tmp_path / "naip.tif"), np.full((4, 16, 16), 41, np.uint8))
    output = tmp_path / "prior.json"
    assert main(["coarse-prior", "--fine-labels", image, "--coarse-labels", coarse, "--output", str(output)]) == 2
    error = capsys.readouterr().err
    assert "The fine label raster has 4 bands, but a class raster has one band of class codes" in error
    assert "Traceback" not in error and not output.exists()


def test_a_code_counted_on_less_than_one_coarse_cell_is_warned_about(tmp_path):
    fine = np.full((16, 16), 255, np.uint8)  # unlabelled but for two pixels
    fine[0, :2] = 5
    coarse = np.array([[41, 21], [21, 21]], np.uint8)
    recorder = Recorder()
    prior = count_prior(make_raster(str(tmp_path / "lc.tif"), fine, nodata=255),
                        make_raster(str(tmp_path / "nlcd.tif"), coarse, pixel_size=8.0), progress=recorder)
    assert prior.rows[41] == pytest.approx([0, 0, 0, 1])
    assert recorder.warnings == ["Code(s) 41 (2 px) were counted on less than one coarse cell (64 fine pixels), so "
                                 "their rows are unreliable; count over a larger --region, or check that "
                                 "--fine-labels and --coarse-labels are the label rasters of the same place."]
