"""Training losses of the method and its baselines, as small functions of tensors.

Label losses ignore 255 (nodata) and average over the labelled targets only; a batch without a
single labelled target gives 0 (not NaN), so one empty crop cannot poison the weights. They run
in float32 whatever the autocast dtype: the aggregated logits are sums of n x n = 900 logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...low2high_plugin.labels.classes import NODATA
from ...models.ops import region_aggregate


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross entropy of ``(B, K, H, W)`` logits against ``(B, H, W)`` labels, 255 ignored."""
    total = F.cross_entropy(logits.float(), target, ignore_index=NODATA, reduction="sum")
    return total / (target != NODATA).sum().clamp(min=1)


def aggregated_cross_entropy(logits: torch.Tensor, coarse: torch.Tensor, factor: int,
                             mean: bool = False) -> torch.Tensor:
    """Eq. 1: sum the logits of each n x n region, then cross entropy against the coarse label.

    ``mean=True`` divides the sums by n² (the average logit; not the paper's choice).
    """
    aggregated = region_aggregate(logits.float(), factor)  # (B, K, H/n, W/n)
    return cross_entropy(aggregated / factor ** 2 if mean else aggregated, coarse)


def upsample_coarse(coarse: torch.Tensor, factor: int) -> torch.Tensor:
    """Coarse labels ``(B, h, w)`` repeated to ``(B, h * n, w * n)`` (nearest upsampling)."""
    return coarse.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def upsampled_cross_entropy(logits: torch.Tensor, coarse: torch.Tensor, factor: int) -> torch.Tensor:
    """The ``low`` baseline: every pixel takes its coarse cell's label."""
    return cross_entropy(logits, upsample_coarse(coarse, factor))


def d_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator (Lim & Ye 2017): push real above +1, fake below -1."""
    return F.relu(1 - real_scores.float()).mean() + F.relu(1 + fake_scores.float()).mean()


def g_hinge_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the generator: raise the discriminator's score of its predictions."""
    return -fake_scores.float().mean()
