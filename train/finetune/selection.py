"""Which fine-tuning step to keep, judged on held-out blocks, and whether any beats the base model.

Agreement of the aggregated argmax with the coarse labels rewards copying the labels' mistakes: a
model that paints every NLCD "developed, open space" block impervious agrees better with NLCD and
maps lawns and trees wrongly. When a coarse prior p(class | code) is known (NLCD's is bundled),
steps are judged instead by how well the **class mix the map gives each code** matches what the
code means: for every code, the mean predicted class shares over the held-out blocks of that code
against the prior's row, ``-Σ_code share_of_blocks · KL(prior row ‖ mean predicted shares)``.
Painting developed blocks all impervious, or collapsing to the majority class, both move a code's
mix away from its row; a confident map that is right block by block keeps every code's mix (a
deciduous-forest block may be all trees while another holds a pasture: their mean is the row).

A step is kept only when it beats step 0 (the base model) by more than the noise of the held-out
blocks justifies: twice the bootstrap standard error of the paired score difference (blocks drawn
with replacement). Otherwise the base model is kept and the log says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...low2high_plugin.evaluation.metrics import ConfusionMatrix

MARGIN_STANDARD_ERRORS = 2.0
"""How many standard errors a step must beat the base model by (about a one-sided 2 % chance that noise alone
passes it)."""
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
class Verdict:
    """A step's score on the held-out blocks, against the base model's."""

    score: float
    gain: float  # over the base model
    margin: float  # what the gain must exceed to count (noise of the held-out blocks)

    @property
    def better(self) -> bool:
        return self.gain > self.margin


class Judge:
    """Scores held-out predictions: per-code class mix against the prior when one is known, else agreement (mIoU)."""

    def __init__(self, prior: Optional[np.ndarray]) -> None:
        self.prior = None if prior is None else np.asarray(prior, np.float64)

    @property
    def measure(self) -> str:
        return ("match of each code's predicted class mix with what the code means (the coarse prior)"
                if self.prior is not None else
                "agreement of the aggregated prediction with the held-out blocks' coarse labels")

    def score(self, held: HeldOut, chosen: Optional[np.ndarray] = None) -> float:
        """The held-out score of ``held`` (over the blocks ``chosen``, all by default); higher is better."""
        if chosen is None:
            chosen = np.arange(len(held.coarse))
        if self.prior is None or held.raw is None:
            return _miou(held.classes[chosen], held.coarse[chosen])
        raw, shares = held.raw[chosen], held.shares[chosen]
        known = (raw < len(self.prior))
        known[known] = ~np.isnan(self.prior[raw[known]]).any(axis=1)
        if not known.any():
            return 0.0
        codes, inverse = np.unique(raw[known], return_inverse=True)
        counts = np.bincount(inverse).astype(np.float64)
        mixes = np.zeros((len(codes), shares.shape[1]))
        np.add.at(mixes, inverse, shares[known])
        mixes /= counts[:, None]
        rows = self.prior[codes]
        divergence = np.where(rows > 0, rows * (np.log(np.maximum(rows, EPSILON)) - np.log(np.maximum(mixes, FLOOR))),
                              0.0).sum(axis=1)
        return float(-(divergence * counts).sum() / counts.sum())

    def verdict(self, held: HeldOut, base: HeldOut, seed: int = 0) -> Verdict:
        """``held`` against ``base`` (the same blocks): gain and the margin the held-out blocks' noise sets."""
        score = self.score(held)
        rng = np.random.default_rng([seed, 0x5E1])
        count = len(held.coarse)
        draws = []
        for _ in range(BOOTSTRAP_DRAWS):
            chosen = rng.integers(0, count, count)
            draws.append(self.score(held, chosen) - self.score(base, chosen))
        margin = MARGIN_STANDARD_ERRORS * float(np.std(draws, ddof=1)) if count > 1 else np.inf
        return Verdict(score, score - self.score(base), margin)


def _miou(predicted: np.ndarray, reference: np.ndarray) -> float:
    matrix = ConfusionMatrix()
    matrix.update(predicted, reference)
    return matrix.compute().macro_iou
