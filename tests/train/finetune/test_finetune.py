"""finetune end to end on a tiny scene: files, card, agreement, reproducibility, cancel, losses."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from train_helpers import NLCD

from low2high.core.errors import Cancelled
from low2high.core.progress import SilentProgress
from low2high.models.checkpoint import load_checkpoint, save_checkpoint
from low2high.train.finetune.config import LOSSES, FinetuneConfig
from low2high.train.finetune.task import finetune, write_plot


def test_finetune_writes_a_self_describing_model_and_onnx(settings, tune_scene):
    settings.update(onnx=True, steps=4, normalisation="image")
    progress = SilentProgress()
    result = finetune(FinetuneConfig(**settings), progress)
    loaded = load_checkpoint(result.output)
    facts = loaded.card.training["finetune"]
    assert facts["base_model"] == "base.pt" and facts["loss"] == "agg" and facts["taxonomy"] == "nlcd"
    assert facts["steps"] == 4 and len(facts["areas_extent"]) == 4 and facts["factor"] == 8
    pixels = tune_scene["pixels"][:, 4:116, 4:116].reshape(4, -1) / 255.0  # about the drawn square's statistics
    assert np.allclose(loaded.card.mean, pixels.mean(axis=1), atol=0.03)
    assert result.onnx == os.path.splitext(result.output)[0] + ".onnx" and os.path.exists(result.onnx)
    assert any("before" in line for line in progress.messages) and any("s/step" in line for line in progress.messages)
    assert not [name for name in os.listdir(os.path.dirname(result.output)) if "partial" in name]


def test_auto_statistics_follow_segments_rule_and_keep_a_dataset_cards_own(settings, tune_scene):
    """NORMALISATION auto = INPUT_STATISTICS auto: a model trained on its dataset's statistics keeps them."""
    result = finetune(FinetuneConfig(**{**settings, "steps": 2}))
    base, tuned = load_checkpoint(tune_scene["model"]).card, load_checkpoint(result.output).card
    assert FinetuneConfig().normalisation == "auto"
    assert tuned.mean == base.mean and tuned.std == base.std and tuned.standardisation == "dataset"


def test_blend_trains_on_half_the_areas_statistics_and_asks_segment_for_the_same(settings, tune_scene, tmp_path):
    """A card asking for blend: the network learns from half its statistics and half the areas' own, and
    the new card keeps the base's statistics and asks segment to blend them with its image's, so the
    drawn image is fed as it was learnt; NORMALISATION image stores the areas' own and asks for model."""
    base = load_checkpoint(tune_scene["model"])
    blended_base = str(tmp_path / "blend-base.pt")
    save_checkpoint(blended_base, base.build_model(), dataclasses.replace(base.card, input_statistics="blend"))
    progress = SilentProgress()
    result = finetune(FinetuneConfig(**{**settings, "model": blended_base, "steps": 2}), progress)
    tuned = load_checkpoint(result.output).card
    assert (tuned.mean, tuned.std, tuned.input_statistics) == (base.card.mean, base.card.std, "blend")
    assert result.best_step == 0  # two steps on this scene: none passes, so the new model is the base as it was
    assert any("(and its card: segment draws the base model's map)" in line for line in progress.warnings)
    assert any(line.startswith("Input statistics: half the base model's, half the drawn areas' own")
               for line in progress.messages)
    own_log = SilentProgress()
    own = finetune(FinetuneConfig(**{**settings, "model": blended_base, "steps": 2, "normalisation": "image",
                                     "output": str(tmp_path / "own.pt")}), own_log)
    card = load_checkpoint(own.output).card
    assert own.best_step == 0 and any("(and its input statistics are the only change)" in line
                                      for line in own_log.warnings)
    pixels = tune_scene["pixels"][:, 4:116, 4:116].reshape(4, -1) / 255.0
    assert card.input_statistics == "model" and np.allclose(card.mean, pixels.mean(axis=1), atol=0.03)


def test_the_rule_freezes_the_encoder_of_small_areas_and_keeps_its_weights(settings, tune_scene):
    settings.update(validation_share=0, normalisation="model")
    result = finetune(FinetuneConfig(**settings))
    assert result.freeze_encoder  # 196 blocks < 400
    base, tuned = load_checkpoint(tune_scene["model"]), load_checkpoint(result.output)
    encoder = [key for key in base.state_dict if key.startswith("encoder.")]
    decoder = [key for key in base.state_dict if key.startswith("decoder.") and key.endswith("weight")]
    assert all(base.state_dict[key].equal(tuned.state_dict[key]) for key in encoder)  # BN statistics included
    assert any(not base.state_dict[key].equal(tuned.state_dict[key]) for key in decoder)
    assert tuned.card.mean == base.card.mean and tuned.card.std == base.card.std  # normalisation "model"


def test_seeded_cpu_runs_are_bitwise_reproducible(settings, tmp_path):
    first = finetune(FinetuneConfig(**settings))
    settings["output"] = str(tmp_path / "again.pt")
    second = finetune(FinetuneConfig(**settings))
    a, b = load_checkpoint(first.output).state_dict, load_checkpoint(second.output).state_dict
    assert all(a[key].equal(b[key]) for key in a)
    assert first.history == second.history


@pytest.mark.parametrize("loss", [loss for loss in LOSSES if loss != "agg"])
def test_every_coarse_label_loss_trains(settings, loss, tmp_path):
    settings.update(loss=loss, steps=2, freeze_encoder=False, validation_share=0)
    if FinetuneConfig(loss=loss).training_mode.needs_prior:  # what each NLCD code of the scene means, as a prior file
        prior = {"codes": {str(code): np.eye(4)[merged].tolist() for merged, code in enumerate(NLCD.tolist())}}
        settings["prior"] = str(tmp_path / "prior.json")
        (tmp_path / "prior.json").write_text(json.dumps(prior))
    result = finetune(FinetuneConfig(**settings))
    assert result.steps == 2 and os.path.exists(result.output)
    assert all(np.isfinite(value) for record in result.history for key, value in record.items()
               if key.startswith("train_"))


def test_agg_fine_tuning_raises_agreement_with_the_coarse_labels(settings):
    settings.update(steps=40, lr=3e-3, freeze_encoder=False, validation_share=0, batch_size=4)
    result = finetune(FinetuneConfig(**settings))
    assert result.after["macro_iou"] > result.before["macro_iou"] + 0.1


def test_plot_is_written(settings, tmp_path):
    result = finetune(FinetuneConfig(**settings))
    write_plot(str(tmp_path / "curve.png"), result, "test")
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"


class CancelAfter(SilentProgress):
    """Cancels once the log has shown ``lines`` step lines."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.lines = lines

    def is_canceled(self) -> bool:
        return sum(message.startswith("step ") for message in self.messages) >= self.lines


def test_cancel_mid_run_leaves_nothing_and_the_base_model_untouched(settings, tune_scene):
    before = open(tune_scene["model"], "rb").read()
    settings.update(steps=50, onnx=True)
    with pytest.raises(Cancelled):
        finetune(FinetuneConfig(**settings), CancelAfter(1))
    folder = os.path.dirname(settings["output"])
    assert os.listdir(folder) == []
    assert open(tune_scene["model"], "rb").read() == before


def test_distribution_losses_default_to_the_bundled_nlcd_prior(settings):
    progress = SilentProgress()
    settings.update(loss="agg-dist", steps=1, validation_share=0)
    finetune(FinetuneConfig(**settings), progress)
    assert any("bundled NLCD prior" in line for line in progress.messages)
    # the band has no open water, yet NLCD 11 keeps Table S1's class (coarse-prior --fill-missing)
    assert not any("does not know the codes" in line for line in progress.warnings)
