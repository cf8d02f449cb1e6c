"""Which fine-tuning step to keep, judged on held-out blocks, and whether any beats the base model.

Without fine labels, every figure a run can compute reads the coarse labels one way, and each way
is also a loss a step can simply learn: agreement of the aggregated argmax with the merged labels
rewards copying their mistakes (a model that paints every NLCD "developed, open space" block
impervious agrees better with NLCD and maps lawns and trees wrongly); the match of each code's
predicted class mix with what the code means (the coarse prior) rewards drifting towards the prior's
landscape (measured on real NAIP of wooded West Virginia, with a prior counted in suburban Maryland:
a step of the distribution loss matched the prior better and lost 27 mIoU). So a step counts as
better only when it is better by **every** reading available, each by more than the noise of the
held-out blocks (twice the bootstrap standard error of the paired difference, blocks drawn with
replacement):

* **agreement**: macro mIoU of the aggregated prediction against the blocks' merged classes;
* **code mix** (when a prior p(class | code) is known; NLCD's is bundled): ``-mean over codes of
  KL(prior row ‖ the code's mean predicted shares)``, codes weighing alike as classes do in macro
  mIoU, so forest codes covering 90 % of a wooded area do not outvote the pasture and developed ones.

A collapse to the majority class loses agreement; painting developed blocks impervious loses the
code mix; learning the roads inside developed blocks gains both. Steps are ranked by their weakest
gain in units of its margin, and when none passes, the base model is kept and the log says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ...engine.evaluation.metrics import ConfusionMatrix, Metrics

MARGIN_STANDARD_ERRORS = 2.0
"""How many standard errors a step must beat the base model by, by each reading (about a one-sided 2 % chance that
noise alone passes one)."""
BOOTSTRAP_DRAWS = 200
EPSILON = 1e-6
FLOOR = 1e-3
"""Smallest predicted share a code's mix is credited with: one class the map never predicts costs a bounded
penalty, so one missing rare class does not outweigh every other code."""


@dataclass
class HeldOut:
    """What a model predicts on the held-out blocks: mean class shares, aggregated argmax, and the labels."""

    shares: np.ndarray  # (N, K) mean predicted probability of each class per block
    classes: np.ndarray  # (N,) argmax of the summed logits (Eq. 1's prediction)
    coarse: np.ndarray  # (N,) merged class of each block's code
    raw: Optional[np.ndarray]  # (N,) raw code of each block, None when the codes were not read


@dataclass
class Reading:
    """One reading of the coarse labels: the step's score, its gain over the base model and the noise margin."""

    name: str
    score: float
    gain: float
    margin: float

    @property
    def better(self) -> bool:
        return self.gain > self.margin

    @property
    def strength(self) -> float:
        """Gain in units of the margin (above 1: better than noise)."""
        return self.gain / self.margin if self.margin > 0 else (np.inf if self.gain > 0 else -np.inf)


@dataclass
class Verdict:
    """A step against the base model on the held-out blocks, by every reading."""

    readings: list[Reading] = field(default_factory=list)

    @property
    def better(self) -> bool:
        return bool(self.readings) and all(reading.better for reading in self.readings)

    @property
    def strength(self) -> float:
        """The weakest reading's gain in units of its margin: how the steps that pass are ranked."""
        return min(reading.strength for reading in self.readings)

    def describe(self) -> str:
        return "; ".join(f"{reading.name} {reading.score:.4f} ({reading.gain:+.4f}, noise margin {reading.margin:.4f})"
                         for reading in self.readings)


class Judge:
    """Reads held-out predictions by agreement, and by code mix when a coarse prior is known."""

    def __init__(self, prior: Optional[np.ndarray]) -> None:
        self.prior = None if prior is None else np.asarray(prior, np.float64)

    @property
    def measure(self) -> str:
        readings = "agreement with their coarse labels"
        if self.prior is not None:
            readings += " and the match of each code's predicted class mix with what the code means"
        return readings

    def readings(self, held: HeldOut) -> dict[str, Callable[[HeldOut, np.ndarray], float]]:
        scores: dict[str, Callable[[HeldOut, np.ndarray], float]] = {"agreement": agreement_score}
        if self.prior is not None and held.raw is not None:
            prior = self.prior
            scores["code mix"] = lambda predicted, chosen: code_mix_score(predicted, chosen, prior)
        return scores

    def verdict(self, held: HeldOut, base: HeldOut, seed: int = 0) -> Verdict:
        """``held`` against ``base`` (the same blocks), by every reading."""
        count = len(held.coarse)
        everything = np.arange(count)
        rng = np.random.default_rng([seed, 0x5E1])
        draws = [rng.integers(0, count, count) for _ in range(BOOTSTRAP_DRAWS)] if count > 1 else []
        verdict = Verdict()
        for name, score in self.readings(held).items():
            now = score(held, everything)
            differences = [score(held, chosen) - score(base, chosen) for chosen in draws]
            margin = MARGIN_STANDARD_ERRORS * float(np.std(differences, ddof=1)) if len(differences) > 1 else np.inf
            verdict.readings.append(Reading(name, now, now - score(base, everything), margin))
        return verdict


def agreement(held: HeldOut, chosen: Optional[np.ndarray] = None) -> Metrics:
    """Accuracy / F1 / mIoU of the aggregated prediction against the merged classes of the blocks ``chosen``
    (all by default): agreement with the coarse labels, not accuracy."""
    if chosen is None:
        chosen = np.arange(len(held.coarse))
    matrix = ConfusionMatrix()
    matrix.update(held.classes[chosen], held.coarse[chosen])
    return matrix.compute()


def agreement_score(held: HeldOut, chosen: np.ndarray) -> float:
    """Macro mIoU of :func:`agreement` over the blocks ``chosen`` (the judge's first reading)."""
    return agreement(held, chosen).macro_iou


def code_mix_score(held: HeldOut, chosen: np.ndarray, prior: np.ndarray) -> float:
    """``-mean over codes of KL(prior row ‖ mean predicted shares of the code's blocks)`` (0 is a perfect match)."""
    assert held.raw is not None
    raw, shares = held.raw[chosen], held.shares[chosen]
    known = raw < len(prior)
    known[known] = ~np.isnan(prior[raw[known]]).any(axis=1)
    if not known.any():
        return 0.0
    codes, inverse = np.unique(raw[known], return_inverse=True)
    mixes = np.zeros((len(codes), shares.shape[1]))
    np.add.at(mixes, inverse, shares[known])
    mixes /= np.bincount(inverse).astype(np.float64)[:, None]
    rows = prior[codes]
    divergence = np.where(rows > 0, rows * (np.log(np.maximum(rows, EPSILON)) - np.log(np.maximum(mixes, FLOOR))),
                          0.0).sum(axis=1)
    return float(-divergence.mean())
