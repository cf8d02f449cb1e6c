"""Differentiable tensor operations of the method (paper Sec. 4.3, 4.4 and 4.6).

Pure functions on ``(B, C, H, W)`` tensors; the training losses are built from them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def region_aggregate(logits: torch.Tensor, factor: int) -> torch.Tensor:
    """Sum logits over each ``factor x factor`` block (region aggregation, Sec. 4.3).

    Every low-resolution label pixel covers an ``n x n`` region of the high-resolution
    prediction (n = label GSD / image GSD, 30 for 30 m NLCD over 1 m NAIP). Summing the logits
    of the region gives one low-resolution logit vector per label pixel, which the cross-entropy
    of Eq. 1 compares with the coarse label, so the network keeps predicting at native
    resolution and the label is never upsampled.

    Args:
        logits: High-resolution logits ``(B, C, H, W)``.
        factor: Region side ``n`` in high-resolution pixels.

    Returns:
        Aggregated logits ``(B, C, H / factor, W / factor)``.

    Raises:
        ValueError: If ``factor`` is not a positive integer or does not divide H and W.
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor!r}")
    batch, channels, height, width = logits.shape
    if height % factor or width % factor:
        raise ValueError(
            f"region_aggregate: height and width ({height} x {width}) must be multiples of "
            f"the aggregation factor {factor}"
        )
    blocks = logits.reshape(batch, channels, height // factor, factor, width // factor, factor)
    return blocks.sum(dim=(3, 5))  # (B, C, H/n, W/n)


def soft_argmax(logits: torch.Tensor, tau: float = 1e3) -> torch.Tensor:
    """Differentiable class index per pixel: ``sum_c c * softmax(tau * logits)_c`` (Eq. 3).

    The discriminator sees label maps of class indices; argmax would cut the gradient from the
    discriminator to the segmentation network, so the expectation of the class index under a
    very sharp (``tau = 1e3``) softmax stands in for it. Classes are numbered from 0 (the
    paper writes 1..C), so the output is directly comparable with exemplar label rasters whose
    values are 0..C-1.

    The softmax runs in float32 whatever the input dtype: ``tau * logits`` overflows fp16 and
    loses the peak in bf16.

    Args:
        logits: ``(B, C, H, W)`` logits, any floating dtype.
        tau: Softmax temperature; larger is closer to a hard argmax.

    Returns:
        Float32 ``(B, 1, H, W)`` soft class indices in ``[0, C - 1]``.
    """
    probabilities = torch.softmax(tau * logits.float(), dim=1)  # (B, C, H, W)
    classes = torch.arange(logits.shape[1], device=logits.device, dtype=torch.float32)
    return (probabilities * classes.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)  # (B, 1, H, W)


def gaussian_kernel(kernel_size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian ``(kernel_size,)`` in float64 (cast by the caller)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    weights = torch.exp(-(offsets**2) / (2 * sigma**2))
    return weights / weights.sum()


def gaussian_blur(x: torch.Tensor, kernel_size: int = 3, sigma: float = 0.6) -> torch.Tensor:
    """Blur each channel with a Gaussian (Sec. 4.6: 3x3, sigma 0.6 on discriminator inputs).

    Blurring both real exemplars and soft-argmax predictions removes the trivial cue that
    real label maps are exactly integer-valued, so the discriminator must judge shapes.
    Separable depthwise convolution with replicate padding keeps the shape and leaves a
    constant image unchanged.

    Args:
        x: ``(B, C, H, W)`` floating tensor.
        kernel_size: Odd kernel side.
        sigma: Standard deviation in pixels.

    Returns:
        Blurred tensor with the shape and dtype of ``x``.
    """
    kernel = gaussian_kernel(kernel_size, sigma).to(device=x.device, dtype=x.dtype)
    channels = x.shape[1]
    pad = kernel_size // 2
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")  # (B, C, H + 2p, W + 2p)
    horizontal = kernel.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    vertical = kernel.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)
    blurred = F.conv2d(padded, horizontal, groups=channels)  # (B, C, H + 2p, W)
    return F.conv2d(blurred, vertical, groups=channels)  # (B, C, H, W)


__all__ = ["region_aggregate", "soft_argmax", "gaussian_blur", "gaussian_kernel"]
