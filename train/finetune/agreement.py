"""What a model predicts on the drawn blocks, and its agreement with their coarse labels.

The aggregated prediction of a block is the argmax of its summed logits: exactly what region
aggregation's loss compares with the coarse label. Its accuracy and macro mIoU over blocks are
**agreement with the coarse labels (e.g. NLCD), not accuracy**: a model better than NLCD agrees
with it less where NLCD is wrong. They are logged before and after fine-tuning; the kept step is
chosen by :mod:`.selection`, which also reads the blocks' mean class shares gathered here.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ...engine.evaluation.metrics import Metrics
from ...models.card import ModelCard
from ..fit.losses import block_probabilities
from ..scoring.predict import aggregated_classes, predict_logits
from .data import AreaChips
from .selection import HeldOut, agreement

EVAL_BATCH = 8


def held_out(network: nn.Module, chips: AreaChips, roles: Sequence[int], card: ModelCard,
             amp: bool = True) -> HeldOut:
    """The network's block predictions (eval mode) on every block of ``roles``, in a fixed order."""
    own = np.isin(chips.role, roles) & (chips.coarse != 255)  # (N, h, w)
    chosen = np.flatnonzero(own.any(axis=(1, 2)))
    shares, classes = [], []
    was_training = network.training
    network.eval()
    try:
        for start in range(0, len(chosen), EVAL_BATCH):
            batch = chosen[start:start + EVAL_BATCH]
            images = torch.from_numpy(np.stack([card.normalise(chips.pixels[i], chips.valid[i]) for i in batch]))
            logits = predict_logits(network, images, amp).cpu()
            mask = own[batch]
            predicted = aggregated_classes(logits, torch.from_numpy(chips.valid[batch]), chips.factor).numpy()
            probabilities = block_probabilities(logits, chips.factor).permute(0, 2, 3, 1).numpy()  # (b, h, w, K)
            classes.append(predicted[mask])
            shares.append(probabilities[mask])
    finally:
        network.train(was_training)
    selected = own[chosen]
    raw = chips.raw[chosen][selected].astype(np.int64) if chips.raw is not None else None
    return HeldOut(np.concatenate(shares) if shares else np.zeros((0, 0)),
                   np.concatenate(classes) if classes else np.zeros(0, np.uint8),
                   chips.coarse[chosen][selected], raw)


def block_agreement(network: nn.Module, chips: AreaChips, roles: Sequence[int], card: ModelCard,
                    amp: bool = True) -> Metrics:
    """:func:`agreement` of the network on the blocks of ``roles``."""
    return agreement(held_out(network, chips, roles, card, amp))


def describe(metrics: Metrics) -> str:
    return (f"agreement with the coarse labels (not accuracy: where they are wrong, a better map agrees less) "
            f"{metrics.accuracy:.1%}, mIoU {metrics.macro_iou:.1%} over {metrics.total:,} blocks")
