"""Floating-point operation count of a model, for benchmark tables and tile-size advice."""

from __future__ import annotations

import copy

import torch
from torch import nn


def _first_conv_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "in_channels"):
        return int(config.in_channels)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise ValueError("count_flops cannot infer the input channels; pass in_channels")


def count_flops(
    model: nn.Module, height: int, width: int, *, in_channels: int | None = None
) -> int:
    """Count FLOPs of one forward pass on a single ``(1, C, height, width)`` input.

    FLOPs are 2 x the multiply-accumulates of every ``nn.Conv2d`` and ``nn.Linear`` (biases
    ignored). Upsampling, BatchNorm, activations, pooling, softmax and attention matrix
    products outside ``nn.Linear`` are not counted: they are a small share of a convolutional
    network's cost and their count depends on the backend. The pass runs on a copy of the model
    on the ``meta`` device, so nothing is computed and no memory is allocated for activations.

    Args:
        model: Any module whose ``forward`` takes one image tensor (e.g. :class:`UNet`).
        height: Input height in pixels.
        width: Input width in pixels.
        in_channels: Input bands; default ``model.config.in_channels`` or the first conv's.

    Returns:
        The FLOP count as an integer.
    """
    channels = in_channels if in_channels is not None else _first_conv_channels(model)
    meta_model = copy.deepcopy(model).to("meta").eval()
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs_per_output = (module.in_channels // module.groups) * kh * kw
        else:  # nn.Linear
            macs_per_output = module.in_features
        total += 2 * output.numel() * macs_per_output

    handles = [
        m.register_forward_hook(hook)
        for m in meta_model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            meta_model(torch.empty(1, channels, height, width, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return int(total)
