"""Distribution targets (agg-dist, agg-dist+adv), the weights' moving average, last-epoch selection."""
import json

import numpy as np
import pytest
import torch
from train_helpers import NLCD, fit_settings, synthetic_chip, write_dataset

from low2high.core.errors import Low2HighError
from low2high.models.checkpoint import load_checkpoint
from low2high.train.data.chips import RAW_NODATA
from low2high.train.fit.config import FitConfig
from low2high.train.fit.losses import (
    block_probabilities,
    distribution_kl,
    distribution_targets,
    pixel_distribution_cross_entropy,
)
from low2high.train.fit.steps import label_loss
from low2high.train.fit.task import fit


def _prior(path, codes=None):
    one_hot = {str(int(code)): [1.0 if k == merged else 0.0 for k in range(4)] for merged, code in enumerate(NLCD)}
    rows = codes or one_hot
    path.write_text(json.dumps({"codes": rows}))
    return str(path)


def test_kl_is_zero_when_each_cell_matches_its_codes_distribution():
    table = torch.full((RAW_NODATA + 1, 4), float("nan"))
    table[21] = torch.tensor([0.0, 0.5, 0.5, 0.0])
    raw = torch.full((1, 1, 2), 21)
    raw[0, 0, 1] = RAW_NODATA  # no code: ignored
    logits = torch.zeros(1, 4, 2, 4)
    logits[0, 1, :, :2] = 20.0  # left cell: half forest, half field
    logits[0, 2, :, 2:] = 20.0
    logits = logits[..., [0, 2, 1, 3]]  # pixels of the first cell: forest, field, forest, field
    targets, known = distribution_targets(raw, table, torch.full((1, 1, 2), 1))
    assert known.tolist() == [[[True, False]]]
    assert float(distribution_kl(logits, targets, known, 2)) == pytest.approx(0.0, abs=1e-5)
    wrong = torch.zeros(1, 4, 2, 4)
    wrong[0, 3] = 20.0  # all impervious: far from the code's mixture
    assert float(distribution_kl(wrong, targets, known, 2)) > 5


def test_mixing_blends_the_merged_label_into_the_target():
    table = torch.full((RAW_NODATA + 1, 4), float("nan"))
    table[22] = torch.tensor([0.0, 0.4, 0.4, 0.2])
    targets, _ = distribution_targets(torch.full((1, 1, 1), 22), table, torch.full((1, 1, 1), 3), mix=0.5)
    assert targets[0, :, 0, 0].tolist() == pytest.approx([0.0, 0.2, 0.2, 0.6])


def _mixed_cells() -> tuple[np.ndarray, dict[str, torch.Tensor], list[list[float]]]:
    """Four cells at mix 0.3, with their targets worked out by hand: (1 - 0.3) x prior row + 0.3 x one-hot.

    Cell 0: code 22 (prior 0 / 0.4 / 0.4 / 0.2) labelled impervious: 0.7 x row + 0.3 x (0, 0, 0, 1).
    Cell 1: code 41 (prior 0.1 / 0.6 / 0.3 / 0) labelled forest: 0.7 x row + 0.3 x (0, 1, 0, 0).
    Cell 2: code 22 without a merged label (255): the prior row alone.
    Cell 3: code 90, which the prior lacks: no target (ignored).
    """
    table = np.full((RAW_NODATA + 1, 4), np.nan, np.float32)
    table[22] = [0.0, 0.4, 0.4, 0.2]
    table[41] = [0.1, 0.6, 0.3, 0.0]
    batch = {"coarse_raw": torch.tensor([[[22, 41], [22, 90]]]), "coarse": torch.tensor([[[3, 1], [255, 2]]])}
    expected = [[0.0, 0.28, 0.28, 0.44],  # 0.7 x (0, .4, .4, .2) + (0, 0, 0, .3)
                [0.07, 0.72, 0.21, 0.0],  # 0.7 x (.1, .6, .3, 0) + (0, .3, 0, 0)
                [0.0, 0.4, 0.4, 0.2],
                [0.0, 0.0, 0.0, 0.0]]
    return table, batch, expected


def test_an_asymmetric_mix_weighs_the_prior_by_one_minus_the_mix():
    """At 0.5 the two weights are equal and a swap passes unseen; 0.3 is the demo model's mix (issue 23, bug 4)."""
    table, batch, expected = _mixed_cells()
    targets, known = distribution_targets(batch["coarse_raw"], torch.from_numpy(table), batch["coarse"], mix=0.3)
    assert known.tolist() == [[[True, True], [True, False]]]
    cells = [targets[0, :, 0, 0], targets[0, :, 0, 1], targets[0, :, 1, 0], targets[0, :, 1, 1]]
    for cell, hand in zip(cells, expected):
        assert cell.tolist() == pytest.approx(hand, abs=1e-6)


@pytest.mark.parametrize("mode", ["low-dist", "agg-dist"])
def test_the_training_loss_uses_the_mixed_targets(mode):
    """label_loss with prior_mix=0.3 (what fit passes) against the loss of the hand targets."""
    table, batch, expected = _mixed_cells()
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 4, 4)  # 2 x 2 cells of 2 x 2 pixels
    log_p = torch.log_softmax(logits, dim=1)
    terms = []
    for index, hand in enumerate(expected[:3]):  # cell 3 has no target
        row, col = divmod(index, 2)
        target = torch.tensor(hand)
        cell = log_p[0, :, 2 * row:2 * row + 2, 2 * col:2 * col + 2]  # (K, 2, 2)
        if mode == "low-dist":  # every pixel's cross entropy against the cell's target
            terms += [float(-(target[:, None, None] * cell).sum() / 4)] * 4
        else:  # KL(target || the cell's mean predicted distribution)
            mean = cell.exp().mean(dim=(1, 2))
            present = target > 0
            terms.append(float((target[present] * (target[present].log() - mean[present].log())).sum()))
    loss = label_loss(mode, 2, prior=table, prior_mix=0.3)(logits, batch)
    assert float(loss) == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_pixel_distribution_loss_is_each_pixels_cross_entropy_against_its_cells_distribution():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, 6)
    targets = torch.softmax(torch.randn(2, 4, 2, 2), dim=1)
    known = torch.ones(2, 2, 2, dtype=torch.bool)
    known[1, 0, 1] = False
    log_p = torch.log_softmax(logits, dim=1)
    expected, count = 0.0, 0
    for b, i, j in [(b, i, j) for b in range(2) for i in range(2) for j in range(2) if known[b, i, j]]:
        cell = log_p[b, :, 3 * i:3 * i + 3, 3 * j:3 * j + 3]  # (K, 3, 3)
        expected += float(-(targets[b, :, i, j, None, None] * cell).sum())
        count += 9
    assert float(pixel_distribution_cross_entropy(logits, targets, known, 3)) == pytest.approx(expected / count,
                                                                                               rel=1e-5)


def test_low_dist_pushes_every_pixel_towards_its_codes_mixture_and_a_logit_bias_shifts_the_optimum():
    table = np.full((RAW_NODATA + 1, 4), np.nan, np.float32)
    table[21] = [0.0, 0.5, 0.3, 0.2]
    batch = {"coarse_raw": torch.full((1, 1, 1), 21), "coarse": torch.full((1, 1, 1), 3)}
    loss = label_loss("low-dist", 2, prior=table)
    matched = torch.log(torch.tensor([1e-9, 0.5, 0.3, 0.2]))[None, :, None, None].expand(1, 4, 2, 2)
    shifted = matched + torch.tensor([0.0, 1.0, 0.0, 0.0])[None, :, None, None]
    assert float(loss(matched, batch)) < float(loss(shifted, batch))
    bias = np.log(np.array([0.25, 0.5, 0.3, 0.2]))  # with the bias, logits minus it are optimal
    biased = label_loss("low-dist", 2, prior=table, logit_bias=bias)
    assert float(biased(matched - torch.from_numpy(bias).float()[None, :, None, None], batch)) == pytest.approx(
        float(loss(matched, batch)), rel=1e-5)


def test_block_probabilities_average_the_softmax():
    logits = torch.randn(2, 4, 6, 6)
    means = block_probabilities(logits, 3)
    assert means.shape == (2, 4, 2, 2) and torch.allclose(means.sum(dim=1), torch.ones(2, 2, 2))


@pytest.mark.parametrize("mode", ["agg-dist", "agg-dist+adv", "low-dist", "low-dist+adv"])
def test_distribution_modes_train_and_record_the_prior(mode, chip_dataset, tmp_path):
    prior = _prior(tmp_path / "prior.json")
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode=mode, prior=prior)))
    card = load_checkpoint(result.best_path).card
    assert card.training["mode"] == mode and "prior.json" in card.training["prior"]
    assert np.isfinite(result.history[0]["train_loss"])
    if mode.endswith("+adv"):
        assert "train_d_loss" in result.history[0]


def test_a_prior_missing_a_code_ignores_its_blocks_and_says_how_many(chip_dataset, tmp_path):
    codes = {str(int(NLCD[1])): [0, 1, 0, 0], str(int(NLCD[2])): [0, 0, 1, 0]}
    warnings = []

    class Recorder:
        def info(self, message):
            pass

        def warn(self, message):
            warnings.append(message)

    fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="agg-dist",
                                 prior=_prior(tmp_path / "p.json", codes))), Recorder())
    assert any("has no row for" in message and "training blocks" in message for message in warnings)


def test_distribution_modes_need_a_prior_and_chips_with_raw_codes(chip_dataset, tmp_path):
    with pytest.raises(Low2HighError, match="needs --prior"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "a"), mode="agg-dist")))
    old = write_dataset(str(tmp_path / "old"), [synthetic_chip("train", 1), synthetic_chip("val", 2)])
    with pytest.raises(Low2HighError, match="rebuild the dataset"):
        fit(FitConfig(**fit_settings(old, str(tmp_path / "b"), mode="agg-dist", prior=_prior(tmp_path / "p.json"))))


def test_ema_and_last_selection_save_the_averaged_weights_of_the_last_epoch(chip_dataset, tmp_path):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="agg", epochs=2, ema=0.9,
                                          select="last", standardisation="tile", photometric=1.0)))
    loaded = load_checkpoint(result.best_path)
    assert result.best_epoch == 2 and loaded.card.standardisation == "tile"
    assert "EMA 0.9" in loaded.card.training["selected_on"]
    state = torch.load(f"{result.folder}/trainer_state.pt", weights_only=True)
    raw = state["task"]["network"]
    saved = loaded.state_dict
    assert any(not torch.equal(raw[name], saved[name]) for name in raw if raw[name].is_floating_point())


def test_logit_adjustment_records_the_training_class_shares(chip_dataset, tmp_path):
    prior = _prior(tmp_path / "prior.json")
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="low-dist", prior=prior,
                                          logit_adjust=1.0)))
    shares = load_checkpoint(result.best_path).card.training["class_shares"]
    assert len(shares) == 4 and sum(shares) == pytest.approx(1.0, abs=1e-4) and min(shares) >= 0
    with pytest.raises(ValueError, match="logit_adjust applies"):
        FitConfig(mode="agg", logit_adjust=1.0)
    with pytest.raises(ValueError, match="must not be negative"):
        FitConfig(mode="low", logit_adjust=-1.0)


def test_selection_and_standardisation_are_checked():
    with pytest.raises(ValueError, match="select"):
        FitConfig(select="median")
    with pytest.raises(ValueError, match="standardisation"):
        FitConfig(standardisation="image")
