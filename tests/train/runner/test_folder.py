"""The run folder: nothing is created before the settings are checked, one run at a time, honest resume lines."""
import json
import os

import pytest
from train_helpers import fit_settings

from low2high.core.errors import Low2HighError
from low2high.train.cli import main
from low2high.train.fit.config import FitConfig
from low2high.train.fit.task import fit
from low2high.train.runner.folder import RunFolder
from low2high.train.runner.lock import LOCK_FILE, FolderLock
from low2high.train.runner.session import resume_message


def _flags(settings: dict) -> list[str]:
    return [part for key, value in settings.items() for part in (f"--{key.replace('_', '-')}", str(value))]


def test_a_failed_command_creates_nothing_and_the_corrected_one_runs(chip_dataset, tmp_path, capsys):
    output = tmp_path / "run"
    settings = fit_settings(chip_dataset, str(output), mode="low", steps_per_epoch=1)
    assert main(["fit", *_flags({**settings, "dataset": chip_dataset + "-typo"})]) == 2
    assert "is not a Low2High dataset" in capsys.readouterr().err
    assert main(["fit", *_flags({**settings, "crop": 50})]) == 2  # checked by the task: still nothing written
    assert "crop 50 must be a multiple" in capsys.readouterr().err
    assert not output.exists()
    assert main(["fit", *_flags(settings)]) == 0  # the corrected command, no --restart needed
    assert json.load(open(output / "config.json"))["crop"] == 64 and (output / "best.pt").exists()


def test_the_config_of_a_run_that_saved_nothing_does_not_block_the_folder(chip_dataset, tmp_path):
    # what a failing command wrote before this was fixed (and a run killed before its first save leaves)
    output = tmp_path / "run"
    output.mkdir()
    settings = fit_settings(chip_dataset, str(output), mode="low", steps_per_epoch=1)
    (output / "config.json").write_text(json.dumps({**settings, "lr": 0.5, "_kind": "fit"}))
    result = fit(FitConfig(**settings))
    assert json.load(open(os.path.join(result.folder, "config.json")))["lr"] == settings["lr"]


def test_a_second_run_into_a_locked_folder_is_refused_before_any_work(chip_dataset, tmp_path):
    output = tmp_path / "run"
    settings = fit_settings(chip_dataset, str(output), mode="low", steps_per_epoch=1)
    fit(FitConfig(**settings))
    saved = sorted(set(os.listdir(output)) - {LOCK_FILE})
    before = {name: os.path.getmtime(output / name) for name in saved}
    with FolderLock(str(output / LOCK_FILE), "the test's folder"):  # a real OS lock, as a running fit holds
        with pytest.raises(Low2HighError, match=r"Another run \(process \d+ on .*\) is working in the output folder"):
            fit(FitConfig(**{**settings, "epochs": 2}))
    assert {name: os.path.getmtime(output / name) for name in saved} == before
    assert len(fit(FitConfig(**{**settings, "epochs": 2})).history) == 2  # lock released: it continues


def test_an_output_under_a_file_is_refused_before_any_work(chip_dataset, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    folder = RunFolder(str(tmp_path / "file" / "run"), FitConfig(), "fit", (), ())
    with pytest.raises(Low2HighError, match="is a file; choose another path"):
        folder.check(restart=False)


def test_the_resume_line_numbers_epochs_as_the_stop_line():
    # the stop line says "Stopped in epoch 3 after batch 5" for position (epoch 2 done, 5 batches)
    assert "in epoch 3 after batch 5" in resume_message("run", 2, 5, 10)
    assert resume_message("run", 2, 0, 10).endswith("after epoch 2.")
    assert "already trained 10 epochs" in resume_message("run", 10, 0, 10)


def test_an_input_in_the_run_folder_is_refused_before_it_is_replaced(chip_dataset, tmp_path, capsys):
    """`fit --init run/best.pt --output run --restart` read the old best model, then wrote the new one over it."""
    output = tmp_path / "run"
    settings = fit_settings(chip_dataset, str(output), mode="low", steps_per_epoch=1)
    fit(FitConfig(**settings))
    best = output / "best.pt"
    before = best.read_bytes()
    again = {**settings, "init": str(best), "restart": True}
    assert main(["fit", *_flags(again)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --init '{best}' lies in the output folder '{output}'") and "Traceback" not in err
    assert best.read_bytes() == before
