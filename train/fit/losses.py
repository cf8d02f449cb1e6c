"""Training losses of the method and its baselines, as small functions of tensors.

Label losses ignore 255 (nodata) and average over the labelled targets only; a batch without a
single labelled target gives 0 (not NaN), so one empty crop cannot poison the weights. They run
in float32 whatever the autocast dtype: the aggregated logits are sums of n x n = 900 logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ...engine.labels.classes import NODATA
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


def block_probabilities(logits: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean softmax probability of each class over each n x n cell: ``(B, K, H/n, W/n)`` float32."""
    return F.avg_pool2d(torch.softmax(logits.float(), dim=1), factor)


def distribution_targets(raw: torch.Tensor, table: torch.Tensor, coarse: torch.Tensor, mix: float = 0.0
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Each cell's target distribution ``(B, K, h, w)`` and where there is one ``(B, h, w)``.

    ``table[code]`` is p(class | raw code) (NaN rows for codes the prior lacks); ``mix`` blends in
    the cell's merged label as a one-hot (0: the prior alone).
    """
    targets = table[raw].permute(0, 3, 1, 2)  # (B, K, h, w)
    known = ~torch.isnan(targets).any(dim=1)
    if mix > 0:
        labelled = coarse != NODATA
        one_hot = F.one_hot(coarse.clamp(max=targets.shape[1] - 1), targets.shape[1]).permute(0, 3, 1, 2).float()
        targets = torch.where(labelled[:, None], (1 - mix) * targets + mix * one_hot, targets)
    return torch.nan_to_num(targets), known


def distribution_kl(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean over known cells of KL(target || mean predicted distribution of the cell).

    KL rather than cross entropy: the gradients are the same (they differ by the targets'
    entropy, a constant), but KL is 0 when a cell's distribution matches its code's, so the logged
    value says how far the map is from the prior.
    """
    predicted = block_probabilities(logits, factor).clamp(min=1e-6)  # (B, K, h, w)
    terms = torch.where(targets > 0, targets * (targets.clamp(min=1e-12).log() - predicted.log()),
                        torch.zeros_like(targets))
    per_cell = terms.sum(dim=1)  # (B, h, w)
    return (per_cell * known).sum() / known.sum().clamp(min=1)


def pixel_distribution_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor,
                                     factor: int) -> torch.Tensor:
    """Mean over pixels of known cells of the cross entropy of each pixel against its cell's distribution.

    ``low-dist``: every pixel is told what its coarse code means, e.g. "48 % tree, 41 % low
    vegetation, 11 % impervious" under NLCD 21. The best a network can do per pixel is the mean
    target over all pixels that look alike, so a roof in any developed cell is pushed towards
    impervious and a lawn towards low vegetation; the block-mean loss of ``agg-dist`` instead
    lets every pixel of a block predict the block's mixture.
    """
    # The target is constant over a cell, so the cell's summed cross entropy needs only the cell's
    # mean log-probability: no (B, K, H, W) copy of the targets.
    mean_log_p = F.avg_pool2d(torch.log_softmax(logits.float(), dim=1), factor)  # (B, K, h, w)
    per_cell = -(targets * mean_log_p).sum(dim=1)  # (B, h, w): mean pixel cross entropy of each cell
    return (per_cell * known).sum() / known.sum().clamp(min=1)
