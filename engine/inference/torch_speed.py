"""Inference-only settings of PyTorch that change its speed, not its results.

Folding each batch norm into the convolution before it removes a full read and write of every
encoder activation (BatchNorm was an eighth of the CPU time of a 512-px tile); in eval mode the
result is the same affine map, exact up to float rounding. torch is imported by the caller.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def fold_batch_norms(model: Any) -> Any:
    """Fold every ``BatchNorm2d`` that directly follows a ``Conv2d`` into it (eval mode, in place).

    Pairs are found two ways, which cover the ResNet encoder: consecutive children of a module
    (``conv`` then ``bn`` in the stem and the shortcut projections) and attributes named
    ``convN`` / ``bnN`` in residual blocks, whose forward calls them in that order.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(parent: nn.Module, conv_name: str, bn_name: str) -> None:
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, nn.Identity())

    if model.training:
        raise ValueError("fold_batch_norms is for eval-mode networks only")
    for parent in list(model.modules()):
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                fold(parent, conv_name, bn_name)
        for name, child in children:
            partner = "bn" + name[4:] if name.startswith("conv") else None
            if isinstance(child, nn.Conv2d) and partner and isinstance(getattr(parent, partner, None), nn.BatchNorm2d):
                fold(parent, name, partner)
    return model


def cpu_streams(torch: Any) -> int:
    """How many forward passes to run at once with torch's threads (the rule: :mod:`.streams`)."""
    from .streams import cpu_streams as streams_for

    return streams_for(torch.get_num_threads())


@contextmanager
def threads_per_stream(torch: Any, streams: int) -> Iterator[None]:
    """Give each of ``streams`` concurrent passes an equal share of torch's CPU threads.

    torch's intra-op thread count is process-wide, so the previous count is restored on the way
    out (the plugin is a guest in the user's QGIS).
    """
    from .streams import threads_per_pass

    before = torch.get_num_threads()
    if streams > 1:
        torch.set_num_threads(threads_per_pass(before, streams))
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
