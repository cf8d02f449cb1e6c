"""Run a segmentation network over whole chips: pad for the network, crop back, argmax.

The one place that turns a model and a :class:`~.data.ChipDataset` into class maps; validation,
``evaluate``, the example plots and the benchmark all call it, so every figure comes from the same
predictions. Chips are S x S with S a multiple of the coarse cell (510), the U-Net wants multiples
of 32: the batch is padded at the bottom and right by reflection (what the network would see
beyond the edge is most like the image itself) and the logits are cropped back.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from ...engine.labels.classes import NODATA
from ...models.config import INPUT_MULTIPLE
from ...models.ops import region_aggregate
from ..data.datasets import ChipDataset
from ..runner.runtime import autocast, memory_format_for


def pad_to_multiple(images: torch.Tensor, multiple: int = INPUT_MULTIPLE) -> torch.Tensor:
    """Pad ``(B, C, H, W)`` at the bottom and right to multiples of ``multiple`` (reflection)."""
    height, width = images.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


def forward_padded(model: nn.Module, images: torch.Tensor, multiple: int = INPUT_MULTIPLE) -> torch.Tensor:
    """Logits ``(B, K, H, W)`` of images of any size: padded for the network, cropped back."""
    height, width = images.shape[-2:]
    logits = model(pad_to_multiple(images, multiple))  # (B, K, H', W')
    return logits[..., :height, :width]


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def to_device(images: torch.Tensor, device: torch.device,
              memory_format: torch.memory_format = torch.channels_last) -> torch.Tensor:
    """A batch on ``device`` in the network's memory layout (channels-last: faster convolutions)."""
    images = images.to(device, non_blocking=device.type == "cuda")
    return images.contiguous(memory_format=memory_format)


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, amp: bool = True) -> torch.Tensor:
    """Float32 logits ``(B, K, H, W)`` (on the model's device) of a normalised batch."""
    device = model_device(model)
    with autocast(device, amp):
        logits = forward_padded(model, to_device(images, device, memory_format_for(model, device)))
    return logits.float()


def aggregated_classes(logits: torch.Tensor, valid: torch.Tensor, factor: int) -> torch.Tensor:
    """Argmax of the logits summed over each n x n cell (Eq. 1's prediction), uint8 ``(B, S/n, S/n)``.

    Pixels without image data add nothing; a cell without any is 255.
    """
    masked = logits * valid[:, None].to(logits.dtype)
    summed = region_aggregate(masked, factor)  # (B, K, S/n, S/n)
    classes = summed.argmax(dim=1).to(torch.uint8)
    classes[region_aggregate(valid[:, None].float(), factor)[:, 0] == 0] = NODATA
    return classes


def predict_chips(model: nn.Module, dataset: ChipDataset, *, batch_size: int = 8, amp: bool = True,
                  indices: Optional[Sequence[int]] = None, aggregate: Optional[int] = None
                  ) -> Iterator[tuple[list[int], np.ndarray, Optional[np.ndarray]]]:
    """Predict whole chips batch by batch, in eval mode (the model's mode is restored after).

    Args:
        model: Any network taking ``(B, bands, H, W)`` and returning ``(B, K, H, W)`` logits, on
            the device to run on.
        dataset: Chips to predict, built without crops or augmentation.
        batch_size: Chips per forward pass.
        amp: bfloat16 autocast when the model is on a GPU.
        indices: Which chips (default: all, in order).
        aggregate: Also return the region-aggregated prediction for cells of this many pixels.

    Yields:
        ``(chip indices, predictions, aggregated)``: predictions uint8 ``(B, S, S)``, classes
        and 255 where the image has no data; aggregated uint8 ``(B, S/n, S/n)`` or None.
    """
    if dataset.crop is not None or dataset.augment:
        raise ValueError("predict_chips needs whole chips: build the dataset with crop=None, augment=False")
    chosen = list(range(len(dataset))) if indices is None else list(indices)
    loader = DataLoader(Subset(dataset, chosen), batch_size=batch_size, shuffle=False, num_workers=0)
    was_training = model.training
    model.eval()
    try:
        for batch in loader:
            logits = predict_logits(model, batch["image"], amp).cpu()
            classes = logits.argmax(dim=1).to(torch.uint8)
            classes[~batch["valid"]] = NODATA
            coarse = aggregated_classes(logits, batch["valid"], aggregate).numpy() if aggregate else None
            yield batch["index"].tolist(), classes.numpy(), coarse
    finally:
        model.train(was_training)
