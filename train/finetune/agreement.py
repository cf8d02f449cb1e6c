"""Agreement of a model's aggregated prediction with the coarse labels of the drawn blocks.

The aggregated prediction of a block is the argmax of its summed logits: exactly what region
aggregation's loss compares with the coarse label. Its accuracy and macro mIoU over blocks are the
only figures a user without fine labels has; they are logged before and after fine-tuning and
select the best step on the validation blocks.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ...low2high_plugin.evaluation.metrics import ConfusionMatrix, Metrics
from ...models.card import ModelCard
from ..scoring.predict import aggregated_classes, predict_logits
from .data import AreaChips

EVAL_BATCH = 8


def block_agreement(network: nn.Module, chips: AreaChips, roles: Sequence[int], card: ModelCard,
                    amp: bool = True) -> Metrics:
    """Accuracy / F1 / mIoU of the aggregated prediction against the blocks of ``roles`` (eval mode)."""
    matrix = ConfusionMatrix()
    targets = np.full(chips.coarse.shape, 255, np.uint8)
    for role in roles:
        own = chips.role == role
        targets[own] = chips.coarse[own]
    chosen = np.flatnonzero((targets != 255).any(axis=(1, 2)))
    was_training = network.training
    network.eval()
    try:
        for start in range(0, len(chosen), EVAL_BATCH):
            batch = chosen[start:start + EVAL_BATCH]
            images = torch.from_numpy(np.stack([card.normalise(chips.pixels[i], chips.valid[i]) for i in batch]))
            logits = predict_logits(network, images, amp).cpu()
            predicted = aggregated_classes(logits, torch.from_numpy(chips.valid[batch]), chips.factor)
            matrix.update(predicted.numpy(), targets[batch])
    finally:
        network.train(was_training)
    return matrix.compute()


def describe(metrics: Metrics) -> str:
    return f"accuracy {metrics.accuracy:.1%}, mIoU {metrics.macro_iou:.1%} over {metrics.total:,} blocks"
