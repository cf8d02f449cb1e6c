"""``fit``: every mode trains and writes a model QGIS can run; resume, stop, refusals, plots."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from helpers import make_raster, scene
from train_helpers import fit_settings, synthetic_chip, write_dataset

from low2high.core.errors import Cancelled, Low2HighError
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.models.checkpoint import load_checkpoint
from low2high.train.cli import main
from low2high.train.fit.config import FitConfig
from low2high.train.fit.task import FitTask, fit
from low2high.train.runner.runtime import StopRequest, out_of_memory_advice

MODES = ("low", "high", "agg", "agg+adv", "pixel")


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    image, _ = scene(96, 160, seed=9)
    return make_raster(str(tmp_path_factory.mktemp("fit_raster") / "image.tif"), image)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_trains_and_writes_a_model_the_segment_engine_runs(mode, chip_dataset, raster, tmp_path):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode=mode)))
    assert result.best_epoch == 1 and len(result.history) == 1
    loaded = load_checkpoint(result.best_path)
    assert loaded.architecture == ("pixel-mlp" if mode == "pixel" else "unet-resnet18")
    card = loaded.card
    assert card.band_names == ["red", "green", "blue", "nir"] and card.class_names[0] == "water"
    assert card.training["mode"] == mode and card.training["best_epoch"] == 1
    assert "--mode" not in card.training["command"] or mode in card.training["command"]
    record = result.history[0]
    # resolution-specific selection (Sec. 5.1): agg modes by their own aggregated prediction
    reference = {"high": "fine", "agg": "aggregated", "agg+adv": "aggregated"}.get(mode, "coarse")
    assert record["score"] == record[f"val_{reference}_macro_iou"] and result.selection == reference
    assert {"val_fine_macro_iou", "val_coarse_accuracy", "val_aggregated_macro_iou", "train_loss",
            "chips_per_s"} <= set(record)
    if mode == "agg+adv":
        assert {"train_d_loss", "train_g_adv", "train_label", "train_d_real"} <= set(record)
    with open(os.path.join(result.folder, "metrics.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 and float(rows[0]["train_loss"]) == pytest.approx(record["train_loss"], rel=1e-5)
    summary = json.load(open(os.path.join(result.folder, "summary.json")))
    assert summary["best_epoch"] == 1 and summary["crop"] == 64

    output = segment(SegmentRequest(raster, str(tmp_path / "map.tif"), result.best_path, tile_size=64, overlap=16))
    assert sum(output.class_shares().values()) == pytest.approx(1.0)


def _state(folder):
    return torch.load(os.path.join(folder, "trainer_state.pt"), weights_only=True)


def _same_training(a, b):
    """Bitwise equal networks, optimisers and loss history (times may differ)."""
    networks = [key for key in ("network", "discriminator") if key in a["task"]]
    assert networks == [key for key in ("network", "discriminator") if key in b["task"]]
    for key in networks:
        assert a["task"][key].keys() == b["task"][key].keys()
        for name in a["task"][key]:
            assert torch.equal(a["task"][key][name], b["task"][key][name]), f"{key}.{name} differs"
    for left, right in zip(a["history"], b["history"]):
        for key in left:
            if "seconds" not in key and "per_s" not in key:
                assert left[key] == right[key], key
    assert a["position"]["epoch"] == b["position"]["epoch"] and a["position"]["step"] == b["position"]["step"]


def test_two_epochs_then_a_third_equals_three_straight(chip_dataset, tmp_path):
    settings = fit_settings(chip_dataset, str(tmp_path / "resumed"), mode="agg+adv", steps_per_epoch=3)
    fit(FitConfig(**{**settings, "epochs": 2}))
    fit(FitConfig(**{**settings, "epochs": 3}))  # same folder, more epochs: continues
    fit(FitConfig(**{**settings, "output": str(tmp_path / "straight"), "epochs": 3}))
    resumed, straight = _state(tmp_path / "resumed"), _state(tmp_path / "straight")
    assert len(resumed["history"]) == 3
    _same_training(resumed, straight)


def test_ctrl_c_saves_the_state_and_a_rerun_loses_nothing(chip_dataset, tmp_path, monkeypatch):
    settings = fit_settings(chip_dataset, str(tmp_path / "stopped"), mode="agg", epochs=2)
    stop = StopRequest()
    original = FitTask.train_step

    def step_then_ctrl_c(self, batch, step):
        losses = original(self, batch, step)
        if step == 5:  # in the middle of the second epoch
            stop.requested = True
        return losses

    monkeypatch.setattr(FitTask, "train_step", step_then_ctrl_c)
    with pytest.raises(Cancelled, match="Run the same command again to continue"):
        fit(FitConfig(**settings), stop=stop)
    saved = _state(tmp_path / "stopped")
    position = saved["position"]
    assert position["epoch"] == 1 and position["step"] == 6 and position["batches"] == 6 - saved["history"][0]["step"]
    monkeypatch.setattr(FitTask, "train_step", original)
    fit(FitConfig(**settings))
    fit(FitConfig(**{**settings, "output": str(tmp_path / "straight")}))
    _same_training(_state(tmp_path / "stopped"), _state(tmp_path / "straight"))


def test_other_settings_in_the_same_folder_are_refused_unless_restart(chip_dataset, tmp_path):
    settings = fit_settings(chip_dataset, str(tmp_path / "run"), mode="low", steps_per_epoch=1)
    fit(FitConfig(**settings))
    with pytest.raises(Low2HighError, match=r"other settings \(lr: 0.001 → 0.002\).*--restart true"):
        fit(FitConfig(**{**settings, "lr": 2e-3}))
    result = fit(FitConfig(**{**settings, "lr": 2e-3, "restart": True}))
    assert json.load(open(os.path.join(result.folder, "config.json")))["lr"] == 2e-3
    done = fit(FitConfig(**{**settings, "lr": 2e-3}))  # already trained: nothing to do, same result
    assert len(done.history) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(Low2HighError, match="not empty"):
        fit(FitConfig(**{**settings, "output": str(tmp_path / "other")}))


def test_a_run_from_before_a_setting_existed_continues_at_that_settings_default(chip_dataset, tmp_path):
    settings = fit_settings(chip_dataset, str(tmp_path / "run"), mode="low", steps_per_epoch=1)
    fit(FitConfig(**settings))
    config_path = tmp_path / "run" / "config.json"
    saved = json.loads(config_path.read_text())
    del saved["logit_adjust"]  # as written by a version without it
    config_path.write_text(json.dumps(saved))
    assert len(fit(FitConfig(**{**settings, "epochs": 2})).history) == 2
    with pytest.raises(Low2HighError, match=r"other settings \(logit_adjust: 0.0 → 0.5\)"):
        fit(FitConfig(**{**settings, "epochs": 2, "logit_adjust": 0.5}))


def test_plots_are_pictures_with_content(chip_dataset, tmp_path):
    import matplotlib.image

    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="agg", epochs=2, plot_every=1)))
    for name in ("curves.png", "examples.png"):
        path = os.path.join(result.folder, name)
        picture = matplotlib.image.imread(path)
        assert os.path.getsize(path) > 20_000 and picture.shape[0] > 300 and picture[..., :3].std() > 0.1


def test_training_needs_chips_with_coarse_labels(tmp_path):
    chips = [synthetic_chip("train", seed, coarse_nodata=True) for seed in range(2)] + [synthetic_chip("val", 5)]
    folder = write_dataset(str(tmp_path / "ds"), chips)
    with pytest.raises(Low2HighError, match="holds a single coarse label"):
        fit(FitConfig(**fit_settings(folder, str(tmp_path / "run"), mode="agg")))


def test_gpu_out_of_memory_names_the_batch_size():
    with pytest.raises(Low2HighError, match=r"batch size of 8.*--batch-size 4"):
        with out_of_memory_advice(8):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_command_line_errors_are_one_line(chip_dataset, tmp_path, capsys):
    assert main(["fit", "--dataset", chip_dataset]) == 2
    assert "fit needs --output" in capsys.readouterr().err
    (tmp_path / "fit.yaml").write_text("mode: best\n")  # a flag outside the modes is argparse's: test_modes.py
    assert main(["fit", "--dataset", chip_dataset, "--output", str(tmp_path / "x"), "--config",
                 str(tmp_path / "fit.yaml")]) == 2
    assert "mode must be one of pixel, low, high, agg, agg+adv" in capsys.readouterr().err


def test_discriminator_maps_are_a_power_of_two():
    from low2high.core.progress import SilentProgress
    from low2high.train.fit.task import discriminator_crop

    assert discriminator_crop(256, 480, SilentProgress()) == 256
    progress = SilentProgress()
    assert discriminator_crop(256, 96, progress) == 64 and progress.warnings
    with pytest.raises(Low2HighError, match="power of two"):
        discriminator_crop(200, 480, SilentProgress())
    assert np.log2(discriminator_crop(64, 64, SilentProgress())) == 6


def test_chips_without_a_32_multiple_crop_train_whole_and_padded(tmp_path):
    # n = 24 and 72-px chips: lcm(24, 32) = 96 > 72, so whole chips are padded to 96 and cropped back.
    chips = [synthetic_chip(split, seed, size=72, factor=24) for split, seed in
             [("train", 0), ("train", 1), ("train", 2), ("val", 3), ("held-out", 4)]]
    folder = write_dataset(str(tmp_path / "ds"), chips, factor=24)
    result = fit(FitConfig(**fit_settings(folder, str(tmp_path / "run"), mode="agg+adv", crop=None)))
    summary = json.load(open(os.path.join(result.folder, "summary.json")))
    assert summary["crop"] is None and result.history[0]["train_loss"] > 0  # whole chips


def test_settings_from_a_yaml_file_and_flags(chip_dataset, tmp_path):
    (tmp_path / "fit.yaml").write_text(f"dataset: {chip_dataset}\nmode: low\nwidth: 8\ncrop: 64\nepochs: 1\n"
                                       "steps_per_epoch: 1\nprogress: false\nplot_every: 0\n")
    assert main(["fit", "--config", str(tmp_path / "fit.yaml"), "--output", str(tmp_path / "run"),
                 "--mode", "pixel"]) == 0  # flags override the file
    saved = json.load(open(tmp_path / "run" / "config.json"))
    assert saved["mode"] == "pixel" and saved["width"] == 8 and saved["steps_per_epoch"] == 1
    assert load_checkpoint(str(tmp_path / "run" / "best.pt")).architecture == "pixel-mlp"


def test_the_unit_and_the_refinement_go_on_the_card_and_a_negative_unit_is_refused_before_training(chip_dataset,
                                                                                                tmp_path, capsys):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="low", min_mapping_unit=400.0,
                                          colour_refinement=True, input_statistics="blend")))
    card = load_checkpoint(result.best_path).card
    assert card.min_mapping_unit == 400.0 and card.colour_refinement is True and card.input_statistics == "blend"
    assert main(["fit", "--dataset", chip_dataset, "--output", str(tmp_path / "bad"), "--min-mapping-unit", "-5"]) == 2
    assert "min_mapping_unit is an area in m², 0 or more" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad" / "best.pt")
