"""The base model as a teacher: fine-tuning moves a model only as far as the coarse labels justify.

A few hundred steps of a coarse-label loss pull a model that is already better than the labels
toward the labels' mistakes (NLCD's developed, open space teaching "impervious" on lawns and trees;
the distribution losses drifting to the majority class). The teacher term adds, to the label loss,
the mean per-pixel KL divergence from the base model's predictions (a frozen copy, eval mode, fed
the same augmented batch) to the fine-tuned model's: a trust region in what the map says rather
than in the weights, so the model changes where the labels give a reason and keeps what it knew
elsewhere (knowledge distillation, Hinton et al. 2015, used as in learning without forgetting,
Li & Hoiem 2016).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..fit.steps import LabelLoss
from ..scoring.predict import predict_logits


def frozen_copy(network: nn.Module) -> nn.Module:
    """The base network as a teacher: a copy in eval mode whose parameters never change."""
    teacher = copy.deepcopy(network).eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


def pixel_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid pixels of KL(teacher ‖ student), both ``(B, K, H, W)``; ``valid`` ``(B, H, W)``."""
    teacher_log = F.log_softmax(teacher_logits.float(), dim=1)
    student_log = F.log_softmax(student_logits.float(), dim=1)
    per_pixel = (teacher_log.exp() * (teacher_log - student_log)).sum(dim=1)  # (B, H, W)
    weights = valid.to(per_pixel.dtype)
    return (per_pixel * weights).sum() / weights.sum().clamp(min=1.0)


def with_teacher(loss: LabelLoss, teacher: nn.Module, weight: float, amp: bool) -> LabelLoss:
    """``loss`` plus ``weight`` × :func:`pixel_kl` to ``teacher``'s predictions of the same batch."""
    if weight <= 0:
        return loss

    def combined(logits: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = predict_logits(teacher, batch["image"], amp).to(logits.device)
        valid = batch["valid"].to(logits.device)
        return loss(logits, batch) + weight * pixel_kl(logits, teacher_logits, valid)

    return combined
