"""A damaged dataset folder (index or chip files) ends in one sentence naming the file, not a traceback."""
import os
import shutil

import pytest
from train_helpers import fit_settings

from low2high.core.errors import Low2HighError
from low2high.train.cli import main
from low2high.train.data.chips import load_chip, read_index


@pytest.fixture
def dataset(chip_dataset, tmp_path):
    """A copy of the built dataset to damage."""
    return shutil.copytree(chip_dataset, tmp_path / "ds")


def _fit(dataset, tmp_path) -> list[str]:
    settings = fit_settings(str(dataset), str(tmp_path / "run"), mode="low", steps_per_epoch=1)
    return ["fit", *[part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]]


@pytest.mark.parametrize("damage, message", [
    (lambda text: b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + text, r"index\.csv' is damaged \(line 1: .*codec"),
    (lambda text: text[: len(text) // 2 + 7], r"index\.csv' is damaged \(line \d+: "),
    (lambda text: b"", r"index\.csv' is damaged \(line 1: no column chip"),
])
def test_a_damaged_index_is_named(dataset, tmp_path, capsys, damage, message):
    index = dataset / "index.csv"
    index.write_bytes(damage(index.read_bytes()))
    with pytest.raises(Low2HighError, match=message + ".*run the same build-dataset command again"):
        list(read_index(str(dataset)))
    assert main(_fit(dataset, tmp_path)) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_a_missing_or_corrupt_chip_is_named(dataset, tmp_path, capsys):
    rows = list(read_index(str(dataset)))
    os.remove(rows[0]["path"])
    with pytest.raises(Low2HighError, match=r"chip file .* is missing; run the same build-dataset command again"):
        load_chip(rows[0]["path"])
    with open(rows[1]["path"], "r+b") as handle:
        handle.truncate(os.path.getsize(rows[1]["path"]) // 2)
    with pytest.raises(Low2HighError, match=r"chip file .* is damaged \(.*\); run the same build-dataset command"):
        load_chip(rows[1]["path"])
    assert main(_fit(dataset, tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The chip file") and err.count("\n") == 1


def test_a_truncated_label_raster_in_build_dataset_is_named(scene_rasters, tmp_path, capsys):
    fine = shutil.copy(scene_rasters["fine_labels"], tmp_path / "lc.tif")
    with open(fine, "r+b") as handle:
        handle.truncate(os.path.getsize(fine) // 2)
    assert main(["build-dataset", "--image", scene_rasters["image"], "--fine-labels", str(fine), "--coarse-labels",
                 scene_rasters["coarse_labels"], "--output", str(tmp_path / "ds"), "--chip-size", "96"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: The raster '{fine}' is damaged or incomplete") and err.endswith("run once more.")
