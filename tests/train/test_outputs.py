"""Output checks made before any work: under a file, onto an input, wrong extension, read-only."""
import os

import numpy as np
import pytest
from helpers import make_model, make_raster
from read_only import make_read_only
from train_helpers import synthetic_chip, write_dataset

from low2high.core.destinations import check_destination, check_writable_folder
from low2high.core.errors import Low2HighError
from low2high.train.cli import main


def test_outputs_that_cannot_be_written_are_named(tmp_path):
    (tmp_path / "file").write_text("a file")
    with pytest.raises(Low2HighError, match=r"cannot be created: '.*file' is a file; choose another path"):
        check_writable_folder(str(tmp_path / "file" / "run"), "output folder")
    (tmp_path / "e.json").mkdir()
    with pytest.raises(Low2HighError, match=r"--output-json '.*e.json' is a folder; give a file name"):
        check_destination(str(tmp_path / "e.json"), "--output-json", (".json",))
    with pytest.raises(Low2HighError, match=r"--output is the same file as an input, --image \('.*file'\)"):
        check_destination(str(tmp_path / "file"), "--output", (), inputs={"--image": str(tmp_path / "file")})
    assert check_destination(str(tmp_path / "new" / "e.json"), "--output-json", (".json",), create_folder=True) == \
        str(tmp_path / "new" / "e.json")  # a missing folder is created when writing
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_named(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(Low2HighError, match="is not writable; choose a folder you can write to"):
        check_destination(str(tmp_path / "ro" / "e.json"), "--output-json", (".json",))


def test_build_dataset_under_a_file_is_refused_before_reading(tmp_path, capsys):
    (tmp_path / "file").write_text("a file")
    assert main(["build-dataset", "--image", "i.tif", "--fine-labels", "f.tif", "--coarse-labels", "c.tif",
                 "--output", str(tmp_path / "file" / "ds")]) == 2
    assert "is a file; choose another path" in capsys.readouterr().err


def test_a_read_only_folder_is_named_also_for_root(tmp_path, monkeypatch):
    folder = make_read_only(monkeypatch, str(tmp_path / "ro"))
    with pytest.raises(Low2HighError, match=r"The folder of --output-json '.*ro' is not writable; choose a folder"):
        check_destination(os.path.join(folder, "e.json"), "--output-json", (".json",))


def test_coarse_prior_refuses_json_named_as_a_raster_before_counting(tmp_path, capsys):
    fine = make_raster(str(tmp_path / "lc.tif"), np.full((16, 16), 2, np.uint8))
    coarse = make_raster(str(tmp_path / "nlcd.tif"), np.array([[21, 41], [41, 24]], np.uint8), pixel_size=8.0)
    before = sorted(os.listdir(tmp_path))
    assert main(["coarse-prior", "--fine-labels", fine, "--coarse-labels", coarse, "--output",
                 str(tmp_path / "p.tif")]) == 2
    assert "--output must be a .json file, not 'p.tif'; choose a name ending in .json." in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("command", ["benchmark", "demo-dataset"])
def test_a_read_only_work_folder_is_refused_before_rendering(command, tmp_path, monkeypatch, capsys):
    work = make_read_only(monkeypatch, str(tmp_path / "ro"))
    assert main([command, "--work", os.path.join(work, "run"), "--shared", str(tmp_path / "nothing")]) == 2
    error = capsys.readouterr().err
    assert "--work folder" in error and "is not writable" in error and "Traceback" not in error
    assert os.listdir(work) == []


def test_evaluate_publishes_both_files_or_neither(tmp_path, monkeypatch, capsys):
    from low2high.train.commands import evaluate as command

    dataset = write_dataset(str(tmp_path / "data"), [synthetic_chip("test", seed) for seed in range(2)])
    model = make_model(str(tmp_path / "model.pt"))
    (tmp_path / "e.json").write_text("the previous figures")

    def failing_csv(path, evaluations):
        raise Low2HighError("--output-csv cannot be written (disk full).")

    monkeypatch.setattr(command, "write_csv", failing_csv)
    assert main(["evaluate", "--checkpoint", model, "--dataset", dataset, "--output-json", str(tmp_path / "e.json"),
                 "--output-csv", str(tmp_path / "e.csv")]) == 2
    assert "disk full" in capsys.readouterr().err
    assert (tmp_path / "e.json").read_text() == "the previous figures"  # not replaced by a run that failed
    assert sorted(os.listdir(tmp_path)) == ["data", "e.json", "model.pt"]
