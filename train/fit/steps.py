"""One optimisation step of each training mode: label losses, and the separate D and G steps.

The modes (:mod:`..modes`) differ in the label loss (:func:`label_loss`); those without the
adversarial term take one :class:`SupervisedStep`, those with it (``agg+adv``, the paper's
method) add the adversarial game of Sec. 4.4 (:class:`AdversarialStep`): the generator's logits
become label maps by soft argmax (tau = 1e3, Eq. 3), random crops of them and of real
high-resolution exemplars are blurred (3x3, sigma 0.6, Sec. 4.6) and judged by the discriminator
(Table S6) with the hinge loss.

Every random choice of a step (crop positions, exemplars) comes from a generator seeded by
(seed, rank, step), so a resumed run draws exactly what an uninterrupted one would.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from ...models.ops import gaussian_blur, soft_argmax
from ..data.exemplars import ExemplarSource
from ..modes import training_mode
from ..runner.distributed import unwrap
from ..runner.runtime import autocast, memory_format_for, step_generator
from ..scoring.predict import forward_padded, to_device
from .losses import d_hinge_loss, distribution_targets, g_hinge_loss

LabelLoss = Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor]


class BatchLabels:
    """A batch's labels as a mode's loss asks for them (:class:`..modes.Labels`), moved to ``device``.

    Only what the loss asks for is moved or computed: a ``high`` batch's coarse labels stay where they are.
    """

    def __init__(self, batch: dict[str, torch.Tensor], device: torch.device, factor: int, aggregate_mean: bool,
                 prior: Optional[torch.Tensor], prior_mix: float) -> None:
        self.batch, self.device, self.prior, self.prior_mix = batch, device, prior, prior_mix
        self.factor, self.aggregate_mean = factor, aggregate_mean

    def fine(self) -> torch.Tensor:
        return self.batch["fine"].to(self.device, non_blocking=True)

    def coarse(self) -> torch.Tensor:
        return self.batch["coarse"].to(self.device, non_blocking=True)

    def distribution(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``prior[raw code]`` of each cell, blended with its merged label by ``prior_mix``, and where known."""
        if self.prior is None:
            raise ValueError("this loss needs a prior table")
        raw = self.batch["coarse_raw"].to(self.device, non_blocking=True)
        return distribution_targets(raw, self.prior, self.coarse(), self.prior_mix)


def label_loss(mode: str, factor: int, aggregate_mean: bool = False, prior: Optional[np.ndarray] = None,
               prior_mix: float = 0.0, logit_bias: Optional[np.ndarray] = None) -> LabelLoss:
    """The loss of the mode called ``mode`` (its :attr:`~..modes.Mode.loss`) against a batch's labels.

    ``prior``: the ``(codes, K)`` table of p(class | raw code) (NaN rows unknown) the modes with a
    prior compare with, blended with the merged label by ``prior_mix``; ignored by the others.
    ``logit_bias`` (``(K,)``, e.g. tau x log class share) is added to the logits the loss sees: the
    network itself then learns the bias-free, class-balanced scores.

    Raises:
        ValueError: an unknown mode, or a mode with a prior given none.
    """
    chosen = training_mode(mode)
    if chosen.needs_prior and prior is None:
        raise ValueError(f"mode {mode} needs a prior table")
    tables: dict[torch.device, torch.Tensor] = {}
    biases: dict[torch.device, torch.Tensor] = {}

    def loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        device = logits.device
        if logit_bias is not None:
            if device not in biases:
                biases[device] = torch.from_numpy(logit_bias).float().to(device).view(1, -1, 1, 1)
            logits = logits.float() + biases[device]
        if chosen.needs_prior and device not in tables:
            assert prior is not None  # checked above
            tables[device] = torch.from_numpy(prior).to(device)
        labels = BatchLabels(batch, device, factor, aggregate_mean, tables.get(device), prior_mix)
        return chosen.loss(logits, labels)

    return loss


class SupervisedStep:
    """Forward, label loss, backward, optimiser step (the modes without the adversarial term).

    Args:
        model: The (possibly DDP-wrapped) network.
        optimizer: Its optimiser.
        loss: :func:`label_loss` of the mode.
        device: Where the model is.
        amp: bfloat16 autocast on GPUs.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss: LabelLoss, device: torch.device,
                 amp: bool) -> None:
        self.model, self.optimizer, self.loss = model, optimizer, loss
        self.device, self.amp = device, amp
        self.memory_format = memory_format_for(model, device)

    def __call__(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        images = to_device(batch["image"], self.device, self.memory_format)  # (B, C, H, W)
        with autocast(self.device, self.amp):
            logits = forward_padded(self.model, images)  # (B, K, H, W)
        loss = self.loss(logits, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}


@dataclass
class AdversarialSettings:
    """The adversarial term's settings (see ``FitConfig`` for the reasons of each default).

    Attributes:
        weight: lambda of ``label loss + lambda * G hinge loss``.
        tau: Soft-argmax temperature (Eq. 3).
        blur_kernel, blur_sigma: Gaussian blur of every discriminator input (Sec. 4.6).
        d_steps: Discriminator steps per generator step.
        crop: Side of the label maps the discriminator judges.
        seed, rank: Seed the step's random choices.
    """

    weight: float
    tau: float
    blur_kernel: int
    blur_sigma: float
    d_steps: int
    crop: int
    seed: int
    rank: int = 0


class AdversarialStep:
    """Eq. 1 plus the adversarial term: a D step on detached predictions, then a G step.

    The generator runs once per step; the discriminator first learns from this step's detached
    predictions and fresh exemplars (``d_steps`` times), then the generator is updated against
    the updated discriminator. During the G step the discriminator's weights are frozen and it is
    called unwrapped, so under DDP its gradients are neither computed nor synchronised.

    Args:
        generator: The (possibly DDP-wrapped) segmentation network.
        discriminator: The (possibly DDP-wrapped) :class:`~low2high.models.Discriminator`.
        g_optimizer, d_optimizer: Their separate optimisers.
        loss: The label loss (Eq. 1).
        exemplars: Real high-resolution label crops.
        settings: See :class:`AdversarialSettings`.
        device: Where the networks are.
        amp: bfloat16 autocast on GPUs.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, g_optimizer: torch.optim.Optimizer,
                 d_optimizer: torch.optim.Optimizer, loss: LabelLoss, exemplars: ExemplarSource,
                 settings: AdversarialSettings, device: torch.device, amp: bool) -> None:
        self.generator, self.discriminator = generator, discriminator
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.loss, self.exemplars, self.settings = loss, exemplars, settings
        self.device, self.amp = device, amp
        self.memory_format = memory_format_for(generator, device)

    def __call__(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        rng = step_generator(self.settings.seed, self.settings.rank, step, 0xAD)
        images = to_device(batch["image"], self.device, self.memory_format)  # (B, C, H, W)
        with autocast(self.device, self.amp):
            logits = forward_padded(self.generator, images)  # (B, K, H, W)
        d_losses: dict[str, torch.Tensor] = {}
        for _ in range(self.settings.d_steps):
            d_losses = self.d_step(logits.detach(), rng)
        return {**self.g_step(logits, batch, rng), **d_losses}

    # ----- discriminator inputs -------------------------------------------------------------

    def fake_maps(self, logits: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Blurred soft-argmax label maps of a random crop per sample: ``(B, 1, S, S)`` float32."""
        side, (height, width) = self.settings.crop, logits.shape[-2:]
        tops = rng.integers(height - side + 1, size=len(logits))
        lefts = rng.integers(width - side + 1, size=len(logits))
        crops = torch.stack([sample[:, top:top + side, left:left + side]
                             for sample, top, left in zip(logits, tops.tolist(), lefts.tolist())])  # (B, K, S, S)
        maps = soft_argmax(crops, self.settings.tau)  # (B, 1, S, S)
        return gaussian_blur(maps, self.settings.blur_kernel, self.settings.blur_sigma)

    def real_maps(self, count: int, rng: np.random.Generator) -> torch.Tensor:
        """Blurred exemplar crops ``(count, 1, S, S)`` float32 (class indices as values)."""
        labels = torch.from_numpy(self.exemplars.sample(count, rng)).to(self.device, non_blocking=True)
        maps = labels.unsqueeze(1).float()  # (B, 1, S, S)
        return gaussian_blur(maps, self.settings.blur_kernel, self.settings.blur_sigma)

    # ----- the two steps --------------------------------------------------------------------

    def d_step(self, logits: torch.Tensor, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Teach D to score exemplars above +1 and (detached) predictions below -1."""
        fake = self.fake_maps(logits, rng)  # (B, 1, S, S)
        real = self.real_maps(len(fake), rng)  # (B, 1, S, S)
        with autocast(self.device, self.amp):
            scores = self.discriminator(torch.cat([real, fake]))  # (2B, 1): one pass, one DDP sync
        real_scores, fake_scores = scores.float().split(len(fake))
        loss = d_hinge_loss(real_scores, fake_scores)
        self.d_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optimizer.step()
        return {"d_loss": loss.detach(), "d_real": real_scores.mean().detach(),
                "d_fake": fake_scores.mean().detach()}

    def g_step(self, logits: torch.Tensor, batch: dict[str, Any], rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Update G on Eq. 1 + weight x hinge loss of D's (frozen) scores of its predictions."""
        critic = unwrap(self.discriminator)
        critic.requires_grad_(False)
        try:
            with autocast(self.device, self.amp):
                scores = critic(self.fake_maps(logits, rng))  # (B, 1)
            adversarial = g_hinge_loss(scores)
            label = self.loss(logits, batch)
            loss = label + self.settings.weight * adversarial
            self.g_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.g_optimizer.step()
        finally:
            critic.requires_grad_(True)
        return {"loss": loss.detach(), "label": label.detach(), "g_adv": adversarial.detach()}
