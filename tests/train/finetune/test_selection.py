"""The kept step: judged on held-out blocks against the base model, restored exactly, never worse than noise allows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from low2high.models.checkpoint import load_checkpoint
from low2high.train.finetune import task as task_module
from low2high.train.finetune.config import FinetuneConfig
from low2high.train.finetune.selection import HeldOut, Judge, Reading, Verdict, agreement_score, code_mix_score
from low2high.train.finetune.task import finetune
from low2high.train.finetune.teacher import frozen_copy, pixel_kl, with_teacher

PRIOR = np.array([[1.0, 0.0, 0.0, 0.0],  # code 0: water
                  [0.0, 0.5, 0.4, 0.1],  # code 1: "developed, open space": trees and grass, a few roofs
                  [0.0, 0.9, 0.1, 0.0]])  # code 2: forest


def weights(path: str) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).state_dict


def same_weights(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_each_codes_mix_is_judged_against_what_the_code_means_not_its_merged_label():
    codes = np.array([1, 1, 2, 2])
    coarse = np.array([3, 3, 1, 1])  # Table S1 merges code 1 into impervious
    everything = np.arange(4)
    forest = [0, 1, 0, 0]
    lawn_and_trees = HeldOut(np.array([[0, 0.2, 0.7, 0.1], [0, 0.8, 0.1, 0.1], forest, forest]), np.array([2, 1, 1, 1]),
                             coarse, codes)
    paved = HeldOut(np.array([[0, 0, 0, 1], [0, 0, 0, 1], forest, forest]), np.array([3, 3, 1, 1]), coarse, codes)
    all_forest = HeldOut(np.array([forest] * 4, float), np.array([1, 1, 1, 1]), coarse, codes)
    assert code_mix_score(lawn_and_trees, everything, PRIOR) > code_mix_score(paved, everything, PRIOR)
    assert code_mix_score(lawn_and_trees, everything, PRIOR) > code_mix_score(all_forest, everything, PRIOR)
    assert agreement_score(paved, everything) > agreement_score(lawn_and_trees, everything)
    exact = HeldOut(np.array([[0, 0.5, 0.4, 0.1]] * 2 + [[0, 0.9, 0.1, 0]] * 2), np.array([1, 1, 1, 1]), coarse, codes)
    assert code_mix_score(exact, everything, PRIOR) == pytest.approx(0.0)


def blocks(codes: np.ndarray, shares: np.ndarray) -> HeldOut:
    """Held-out blocks whose merged class is the prior's argmax and whose argmax is the shares'."""
    return HeldOut(shares, shares.argmax(axis=1).astype(np.uint8), PRIOR[codes].argmax(axis=1).astype(np.uint8),
                   codes)


def test_a_step_must_beat_the_base_model_by_every_reading_and_by_more_than_noise():
    judge = Judge(PRIOR)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 60)
    base = blocks(codes, np.full((60, 4), 0.25) + np.eye(4)[rng.integers(0, 4, 60)] * 0.01)
    assert not judge.verdict(base, base).better  # the same predictions: no gain, no reason to change
    noisy = blocks(codes, np.clip(base.shares + rng.normal(0, 0.002, base.shares.shape), 0, 1))
    assert not judge.verdict(noisy, base).better
    right = blocks(codes, PRIOR[codes] + 1e-3)
    verdict = judge.verdict(right, base)
    assert verdict.better and [reading.name for reading in verdict.readings] == ["agreement", "code mix"]
    assert all(reading.gain > reading.margin > 0 for reading in verdict.readings)
    collapsed = blocks(codes, np.tile([0.0, 1.0, 0.0, 0.0], (60, 1)))  # all forest: agreement falls
    mixed_up = judge.verdict(collapsed, base)
    assert not mixed_up.better and "agreement" in mixed_up.describe()
    assert Judge(None).verdict(right, base).better  # without a prior, agreement alone decides


def test_teacher_term_is_zero_at_the_teacher_and_pulls_towards_it():
    torch.manual_seed(0)
    network = torch.nn.Conv2d(4, 4, 1)
    teacher = frozen_copy(network)
    images = torch.randn(2, 4, 8, 8)
    valid = torch.ones(2, 8, 8, dtype=torch.bool)
    assert pixel_kl(network(images), teacher(images), valid).item() == pytest.approx(0, abs=1e-6)
    assert not any(parameter.requires_grad for parameter in teacher.parameters())
    with torch.no_grad():
        network.weight.add_(torch.randn_like(network.weight))
    loss = with_teacher(lambda logits, batch: logits.sum() * 0, teacher, 1.0, amp=False)
    value = loss(network(images), {"image": images, "valid": valid})
    value.backward()
    assert value.item() > 0 and network.weight.grad.abs().sum() > 0


def test_a_run_that_never_beats_the_base_model_writes_exactly_its_weights(settings):
    result = finetune(FinetuneConfig(**{**settings, "lr": 1e-12, "validation_share": 0.3}))
    assert result.best_step == 0
    assert same_weights(weights(result.output), weights(settings["model"]))


def scripted(winning_step: int):
    """A judge whose verdict is 'better' at ``winning_step`` only (the real judge cannot be steered)."""
    calls = {"step": 0}

    class Scripted(Judge):
        def verdict(self, held, base, seed=0):
            calls["step"] += 3  # eval_every in the settings
            won = calls["step"] == winning_step
            return Verdict([Reading("scripted", 1.0, 1.0 if won else 0.0, 0.5)])

    return Scripted


def test_the_kept_step_in_the_middle_of_a_run_is_the_one_written(settings, tmp_path, monkeypatch):
    changes = {"validation_share": 0.3, "eval_every": 3, "patience": 0}
    monkeypatch.setattr(task_module, "Judge", scripted(3))
    middle = finetune(FinetuneConfig(**{**settings, **changes, "steps": 9}))
    assert middle.best_step == 3
    monkeypatch.setattr(task_module, "Judge", scripted(3))
    short = finetune(FinetuneConfig(**{**settings, **changes, "steps": 3, "output": str(tmp_path / "short.pt")}))
    monkeypatch.setattr(task_module, "Judge", scripted(9))
    last = finetune(FinetuneConfig(**{**settings, **changes, "steps": 9, "output": str(tmp_path / "last.pt")}))
    assert last.best_step == 9
    assert same_weights(weights(middle.output), weights(short.output))
    assert not same_weights(weights(middle.output), weights(settings["model"]))
    assert not same_weights(weights(middle.output), weights(last.output))


def test_the_code_mix_weighs_codes_alike_and_skips_codes_the_prior_does_not_know():
    prior = np.vstack([PRIOR, np.full((1, 4), np.nan)])  # code 3: unknown to the prior
    codes = np.array([1, 1, 1, 2, 3])
    shares = np.array([[0, 0.5, 0.4, 0.1]] * 3 + [[0, 0.5, 0.5, 0.0], [1, 0, 0, 0]])
    held = HeldOut(shares, shares.argmax(axis=1), np.zeros(5, np.int64), codes)
    row = PRIOR[2]  # code 2's mix (0.5 / 0.5 / 0) against its row (0.9 / 0.1 / 0)
    code_2 = sum(p * (np.log(p) - np.log(m)) for p, m in zip(row, [0, 0.5, 0.5, 0.0]) if p > 0)
    expected = -(0.0 + code_2) / 2  # code 1 matches exactly; two known codes, each weighing a half
    assert code_mix_score(held, np.arange(5), prior) == pytest.approx(expected)


def test_a_gain_inside_the_noise_margin_does_not_count():
    assert not Reading("agreement", 0.5, 0.01, 0.05).better and Reading("agreement", 0.5, 0.06, 0.05).better
    assert not Verdict([Reading("a", 0, 0.2, 0.1), Reading("b", 0, 0.01, 0.05)]).better
    assert not Verdict([]).better
    judge = Judge(PRIOR)
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 3, 40)
    base = blocks(codes, rng.dirichlet(np.ones(4), 40))
    verdict = judge.verdict(blocks(codes, np.clip(base.shares + rng.normal(0, 0.05, (40, 4)), 0.001, 1)), base)
    assert all(reading.margin > 0 for reading in verdict.readings)  # the bootstrap measured some noise
