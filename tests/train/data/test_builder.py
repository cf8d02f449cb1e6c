"""build-dataset on a tiny synthetic scene: chips, filters, splits, held-out regions, resuming, crashes."""
import csv
import json
import os
import re

import numpy as np
import pytest
from helpers import make_raster, scene

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.labels.alignment import block_majority
from low2high.train.cli import main
from low2high.train.data import chips as chip_format
from low2high.train.data.builder import BuildDatasetConfig, build_dataset, chip_size_for, chip_verdict
from low2high.train.data.chips import load_chip, read_index
from low2high.train.data.splits import split_counts

CHESAPEAKE = np.array([1, 2, 3, 5], np.uint8)  # merged class → a Chesapeake code of it
NLCD = np.array([11, 41, 82, 22], np.uint8)  # merged class → an NLCD code of it
N = 8  # coarse cells of 8 × 8 image pixels
SIZE = 512


@pytest.fixture
def rasters(tmp_path_factory):
    """A 512 × 512 1 m scene, its 1 m Chesapeake labels and 8 m NLCD-coded labels (block majority)."""
    folder = tmp_path_factory.mktemp("scene")
    image, classes = scene(SIZE, SIZE, seed=11)
    classes[:128, :128] = 1  # a forest corner: its chips hold one class only
    fine = CHESAPEAKE[classes]
    fine[300:304, 0:64] = 15  # Chesapeake no-data
    coarse = NLCD[block_majority(classes, N, 255)]
    return {"image": make_raster(str(folder / "naip.tif"), image),
            "fine_labels": make_raster(str(folder / "lc.tif"), fine),
            "coarse_labels": make_raster(str(folder / "nlcd.tif"), coarse, pixel_size=float(N)),
            "classes": classes, "pixels": image, "fine": fine}


def _config(rasters, output, **changes):
    settings = {key: rasters[key] for key in ("image", "fine_labels", "coarse_labels")}
    settings.update(output=str(output), chip_size=64, band_names=["red", "green", "blue", "nir"])
    settings.update(changes)
    return BuildDatasetConfig(**settings)


def _index(folder):
    return list(read_index(str(folder)))


def test_chips_hold_aligned_image_fine_and_coarse_labels(rasters, tmp_path):
    summary = build_dataset(_config(rasters, tmp_path / "ds"), progress_bar=False)
    assert summary.factor == N and summary.chip_size == 64 and summary.written > 0
    rows = _index(tmp_path / "ds")
    assert len(rows) == summary.written
    row = rows[len(rows) // 2]
    chip = load_chip(row["path"])
    col, r = row["col"], row["row"]
    assert chip["image"].dtype == np.uint8 and chip["image"].shape == (4, 64, 64)
    assert np.array_equal(chip["image"], rasters["pixels"][:, r:r + 64, col:col + 64])
    expected_fine = rasters["classes"][r:r + 64, col:col + 64].copy()
    expected_fine[rasters["fine"][r:r + 64, col:col + 64] == 15] = 255
    assert np.array_equal(chip["fine"], expected_fine)
    assert chip["coarse"].shape == (8, 8)
    assert np.array_equal(chip["coarse"], block_majority(rasters["classes"][r:r + 64, col:col + 64], N, 255))
    assert chip["geotransform"][0] == 330000.0 + col and chip["geotransform"][3] == 4310000.0 - r
    assert "26918" in str(chip["crs"]) and chip["window"].tolist() == [col, r, 64, 64]
    assert row["fine_forest"] == int((chip["fine"] == 1).sum()) and row["coarse_nodata"] == 0


def test_filters_follow_the_paper(rasters, tmp_path):
    config = _config(rasters, tmp_path / "ds")
    summary = build_dataset(config, progress_bar=False)
    assert summary.dropped.get("fewer than 3 classes", 0) >= 4  # the forest corner (2 × 2 chips)
    for row in _index(tmp_path / "ds"):
        for source in ("fine", "coarse"):
            counts = np.array([row[f"{source}_{name}"] for name in ("water", "forest", "field", "impervious")])
            assert np.count_nonzero(counts) >= 3 and counts.max() / counts.sum() <= 0.75
    three = np.array([10, 10, 10, 0, 0])
    assert chip_verdict(three, three, config) is None
    assert chip_verdict(np.array([10, 10, 0, 0, 0]), three, config) == "fewer than 3 classes"
    assert chip_verdict(three, np.array([80, 10, 10, 0, 0]), config) == "one class over 75%"
    assert chip_verdict(np.array([10, 10, 10, 0, 40]), three, config) == "too much nodata"


def test_split_proportions_are_exact_and_seeded(rasters, tmp_path):
    summary = build_dataset(_config(rasters, tmp_path / "a", min_classes=1, max_class_share=1.0), progress_bar=False)
    total = sum(summary.split_counts.values())
    assert total == 64  # every chip kept
    assert [summary.split_counts[name] for name in ("train", "val", "held-out", "test")] == \
        split_counts(64, [0.75, 0.1, 0.1, 0.05]) == [48, 7, 6, 3]  # 6.4 / 6.4: the tie goes to val
    same = build_dataset(_config(rasters, tmp_path / "b", min_classes=1, max_class_share=1.0), progress_bar=False)
    build_dataset(_config(rasters, tmp_path / "c", min_classes=1, max_class_share=1.0, seed=5), progress_bar=False)
    assert summary.split_counts == same.split_counts
    splits = {folder: {row["chip"]: row["split"] for row in _index(tmp_path / folder)} for folder in "abc"}
    assert splits["a"] == splits["b"] and splits["a"] != splits["c"]


def test_regions_are_held_out_by_name(rasters, tmp_path):
    regions = "east:330384,4309872,330512,4310000;south:pixels:0,400,100,100"
    build_dataset(_config(rasters, tmp_path / "ds", min_classes=1, max_class_share=1.0, regions=regions),
                  progress_bar=False)
    rows = {row["chip"]: row for row in _index(tmp_path / "ds")}
    east = sorted(chip for chip, row in rows.items() if row["split"] == "region:east")
    assert east == ["r00000_c00006", "r00000_c00007", "r00001_c00006", "r00001_c00007"]
    # "south" covers pixels 0–99 × 400–499: the chip r00006_c00000 (384–447) straddles it and is dropped,
    # r00007_c00000 (448–511) too; no chip lies entirely inside.
    assert "r00006_c00000" not in rows and "r00007_c00000" not in rows
    assert not any(row["split"] == "region:south" for row in rows.values())
    description = json.load(open(tmp_path / "ds" / "dataset.json"))
    assert description["splits"]["region:east"] == 4 and description["splits"]["region:south"] == 0
    assert description["dropped"]["straddles a held-out region"] == 4


def test_bad_regions_and_chip_sizes_are_refused(rasters, tmp_path):
    with pytest.raises(Low2HighError, match=r"regions item 1 \('east:1,2,3'\): expected 4 numbers"):
        build_dataset(_config(rasters, tmp_path / "a", regions="east:1,2,3"), progress_bar=False)
    with pytest.raises(Low2HighError, match="lies outside the image"):
        build_dataset(_config(rasters, tmp_path / "b", regions="far:0,0,10,10"), progress_bar=False)
    with pytest.raises(Low2HighError, match="chip_size 60 is not a multiple of the factor 8.*Use 56 or 64"):
        build_dataset(_config(rasters, tmp_path / "c", chip_size=60), progress_bar=False)


def test_default_chip_size_is_the_multiple_of_n_closest_to_512(rasters, tmp_path):
    summary = build_dataset(_config(rasters, tmp_path / "ds", chip_size=None), progress_bar=False)
    assert summary.chip_size == 512  # 512 is a multiple of 8
    assert chip_size_for(None, 30) == 510 and chip_size_for(None, 50) == 500 and chip_size_for(None, 600) == 600


def test_normalisation_is_the_train_split_statistics(rasters, tmp_path):
    build_dataset(_config(rasters, tmp_path / "ds"), progress_bar=False)
    description = json.load(open(tmp_path / "ds" / "dataset.json"))
    train = [load_chip(row["path"], ["image"])["image"] for row in _index(tmp_path / "ds") if row["split"] == "train"]
    pixels = np.concatenate([chip.reshape(4, -1) for chip in train], axis=1) / 255.0
    assert description["normalisation"]["mean"] == pytest.approx(pixels.mean(axis=1).tolist(), abs=1e-9)
    assert description["normalisation"]["std"] == pytest.approx(pixels.std(axis=1).tolist(), abs=1e-9)
    assert description["image"]["band_names"] == ["red", "green", "blue", "nir"] and description["factor"] == N
    assert description["complete"] is True and description["taxonomies"]["coarse"]["mapping"]["41"] == 1


def test_a_second_run_writes_nothing_new(rasters, tmp_path):
    config = _config(rasters, tmp_path / "ds")
    first = build_dataset(config, progress_bar=False)
    times = {name: os.stat(tmp_path / "ds" / "chips" / name).st_mtime_ns
             for name in os.listdir(tmp_path / "ds" / "chips")}
    second = build_dataset(config, progress_bar=False)
    assert second.written == 0 and second.skipped == first.written
    assert times == {name: os.stat(tmp_path / "ds" / "chips" / name).st_mtime_ns
                     for name in os.listdir(tmp_path / "ds" / "chips")}
    assert second.split_counts == first.split_counts and second.mean == first.mean


def test_other_settings_in_the_same_folder_are_refused(rasters, tmp_path):
    build_dataset(_config(rasters, tmp_path / "ds"), progress_bar=False)
    with pytest.raises(Low2HighError, match=r"holds a dataset built with other settings \(seed\)"):
        build_dataset(_config(rasters, tmp_path / "ds", seed=3), progress_bar=False)


def test_a_crash_mid_chip_leaves_no_corrupt_chip_and_resuming_completes(rasters, tmp_path, monkeypatch):
    real_save = np.savez_compressed
    calls = {"count": 0}

    def crash_on_the_fifth(handle, **arrays):
        calls["count"] += 1
        if calls["count"] == 5:
            handle.write(b"PK\x03\x04 half a chip")
            raise KeyboardInterrupt
        real_save(handle, **arrays)

    monkeypatch.setattr(chip_format.np, "savez_compressed", crash_on_the_fifth)
    config = _config(rasters, tmp_path / "ds")
    with pytest.raises(KeyboardInterrupt):
        build_dataset(config, progress_bar=False)
    chips = os.listdir(tmp_path / "ds" / "chips")
    assert len(chips) == 4 and all(not name.startswith(".") for name in chips)
    for name in chips:
        load_chip(str(tmp_path / "ds" / "chips" / name))  # every file there is whole
    assert json.load(open(tmp_path / "ds" / "dataset.json"))["complete"] is False

    monkeypatch.setattr(chip_format.np, "savez_compressed", real_save)
    resumed = build_dataset(config, progress_bar=False)
    clean = build_dataset(_config(rasters, tmp_path / "clean"), progress_bar=False)
    assert resumed.skipped == 4 and resumed.written + resumed.skipped == clean.written
    with open(tmp_path / "ds" / "index.csv") as a, open(tmp_path / "clean" / "index.csv") as b:
        assert list(csv.reader(a)) == list(csv.reader(b))


def test_unknown_codes_are_counted_once_or_stop_in_strict_mode(rasters, tmp_path):
    fine = rasters["fine"].copy()
    fine[0:2, 0:512] = 9  # not a Chesapeake code
    odd = make_raster(str(tmp_path / "odd.tif"), fine)
    progress = SilentProgress()
    build_dataset(_config({**rasters, "fine_labels": odd}, tmp_path / "a"), progress, progress_bar=False)
    assert progress.warnings == ["1,024 pixels with code 9 (1,024) are not in the Chesapeake taxonomy and were set "
                                 "to nodata."]
    with pytest.raises(Low2HighError, match="not in the Chesapeake taxonomy: 9"):
        build_dataset(_config({**rasters, "fine_labels": odd}, tmp_path / "b", strict=True), progress_bar=False)


def test_command_line(rasters, tmp_path, capsys):
    arguments = ["build-dataset", "--image", rasters["image"], "--fine-labels", rasters["fine_labels"],
                 "--coarse-labels", rasters["coarse_labels"], "--output", str(tmp_path / "ds"), "--chip-size", "128"]
    assert main(arguments) == 0
    assert "chips of 128 px" in capsys.readouterr().out
    assert main(arguments[:-2] + ["--chip-size", "100"]) == 2
    assert "not a multiple of the factor 8" in capsys.readouterr().err


def test_yaml_config_with_regions_as_mappings(rasters, tmp_path, capsys):
    config = tmp_path / "build.yaml"
    config.write_text(f"""image: {rasters['image']}
fine_labels: {rasters['fine_labels']}
coarse_labels: {rasters['coarse_labels']}
output: {tmp_path / 'ds'}
chip_size: 64
min_classes: 1
max_class_share: 1.0
regions:
  - name: corner
    window: [0, 0, 128, 128]
""")
    assert main(["build-dataset", "--config", str(config)]) == 0
    assert "region:corner 4" in capsys.readouterr().out


def test_the_command_line_logs_the_time_left_on_lines_of_their_own(rasters, tmp_path, capsys, monkeypatch):
    """A long build logs chips done and the time left (every 30 s; here after every chip); the log
    lines must not continue the tqdm bar's line, which the command draws on the same stderr."""
    from low2high.core import progress

    monkeypatch.setattr(progress, "ETA_EVERY_S", 0.0)
    assert main(["build-dataset", "--image", rasters["image"], "--fine-labels", rasters["fine_labels"],
                 "--coarse-labels", rasters["coarse_labels"], "--output", str(tmp_path / "ds"),
                 "--chip-size", "128"]) == 0
    err = capsys.readouterr().err
    counted = [line for line in err.split("\n") if " chips, about " in line]
    assert counted, err
    for line in counted:
        shown = line.split("\r")[-1]  # what stays on screen once the bar's line is cleared
        assert re.fullmatch(r"\d+/\d+ chips, about \d+ s left\.", shown), repr(line)
        assert "build-dataset:" not in shown


def test_the_command_line_names_its_own_flag_for_the_factor(rasters, tmp_path, capsys):
    """It said "give FACTOR", the QGIS parameter's name, to a command whose flag is --factor (issue 18 sweep)."""
    assert main(["build-dataset", "--image", rasters["image"], "--fine-labels", rasters["fine_labels"],
                 "--coarse-labels", rasters["fine_labels"], "--output", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "give --factor: the product's cell size" in err and "FACTOR" not in err
