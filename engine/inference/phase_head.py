"""The U-Net's last step, 2× bilinear upsampling then a 3 × 3 convolution, computed at half resolution.

The head turns ``w`` feature maps into a handful of class logits, but as written it first
upsamples all ``w`` maps to full resolution: the largest tensor of a pass (64 channels × the
tile) and, on a CPU without AMX, a tenth of a bf16 pass (upsampling 4.8 %, then a convolution
with 4 outputs that oneDNN runs at a third of its usual rate: 5.8 %). Both are linear, so each of
the four output phases (even/odd row × even/odd column) is one 3 × 3 convolution of the
half-resolution map with weights composed from the head's and the bilinear taps; one convolution
with ``4 × classes`` outputs and a pixel shuffle give the same logits without the upsampled
tensor. The composition holds where the bilinear weights are the interior ones: the two outer
rows and columns (where upsampling clamps and the convolution pads with zeros) are computed the
original way from thin strips, so the function is the same everywhere, up to float rounding.
Imported only where a .pt model is loaded: QGIS without torch still runs ONNX models.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Bilinear 2× (align_corners=False) as 3 × 3 matrices, one per output phase: row ``d`` is the
#: low-resolution tap ``i + d - 1``, column ``t`` the high-resolution convolution tap ``t - 1``.
_PHASE_TAPS = (
    ((0.75, 0.25, 0.0), (0.25, 0.75, 0.75), (0.0, 0.0, 0.25)),  # even outputs 2i
    ((0.25, 0.0, 0.0), (0.75, 0.75, 0.25), (0.0, 0.25, 0.75)),  # odd outputs 2i + 1
)
#: Output rows (and columns) on each side where the composed weights do not hold, and the
#: input rows that decide them exactly.
_OUTER = 2
_STRIP = 3


def phase_weights(weight: torch.Tensor) -> torch.Tensor:
    """(4 K, C, 3, 3) weights of the half-resolution convolution for a (K, C, 3, 3) head, ordered
    for :func:`torch.nn.functional.pixel_shuffle` (channel ``k · 4 + a · 2 + b`` → phase a, b)."""
    taps = torch.tensor(_PHASE_TAPS, dtype=torch.float64)
    kernel = weight.detach().to(torch.float64)
    phases = [torch.einsum("dt,kcts,es->kcde", taps[a], kernel, taps[b]) for a in (0, 1) for b in (0, 1)]
    return torch.stack(phases, dim=1).reshape(-1, *kernel.shape[1:]).to(weight.dtype)


class PhaseHead(nn.Module):
    """``head(upsample2x(x))`` of a 3 × 3, padding-1, stride-1 head, computed at the input's resolution."""

    def __init__(self, head: nn.Conv2d, upsample: Any) -> None:
        super().__init__()
        self.head = head
        self.upsample = upsample
        bias = head.bias.detach().repeat_interleave(4) if head.bias is not None else None
        self.phases = nn.Conv2d(head.in_channels, 4 * head.out_channels, 3, padding=1, bias=bias is not None)
        with torch.no_grad():
            self.phases.weight.copy_(phase_weights(head.weight))
            if bias is not None:
                self.phases.bias.copy_(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = F.pixel_shuffle(self.phases(x), 2)  # (B, K, 2h, 2w)
        if min(x.shape[-2:]) < _STRIP:
            return self.head(self.upsample(x))
        n = _OUTER
        output[..., :n, :] = self._original(x[..., :_STRIP, :])[..., :n, :]
        output[..., -n:, :] = self._original(x[..., -_STRIP:, :])[..., -n:, :]
        output[..., :n] = self._original(x[..., :_STRIP])[..., :n]
        output[..., -n:] = self._original(x[..., -_STRIP:])[..., -n:]
        return output

    def _original(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.upsample(x))


class PhaseHeadUNet(nn.Module):
    """A U-Net whose head runs as :class:`PhaseHead` (inference only: the same weights, the same logits)."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        from ...models.unet import upsample2x

        self.unet = unet
        self.head = PhaseHead(unet.decoder.head, upsample2x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.unet._check_input(x)
        return self.head(self.unet.decoder.decode(self.unet.encoder(x)))


def with_phase_head(model: nn.Module) -> nn.Module:
    """``model`` with its head as :class:`PhaseHead` when it is a U-Net with a 3 × 3 head; as it is otherwise."""
    decoder = getattr(model, "decoder", None)
    head = getattr(decoder, "head", None)
    if not (hasattr(decoder, "decode") and isinstance(head, nn.Conv2d) and head.kernel_size == (3, 3)
            and head.padding == (1, 1) and head.stride == (1, 1) and head.groups == 1):
        return model
    return PhaseHeadUNet(model).eval()
