"""The model being fine-tuned: the base checkpoint, which of its parts learn, and the new model card.

Freezing the encoder keeps the ResNet-18 features the base model learnt (and their BatchNorm
statistics) and adapts only the decoder: with a few hundred coarse blocks there is too little
supervision to move the whole network without forgetting what it knew.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any

import torch
from torch import nn

from ...core.errors import Low2HighError
from ...core.resources import resource_path
from ...models.card import CheckpointError, ModelCard
from ...models.checkpoint import LoadedCheckpoint, load_checkpoint
from ...models.unet import UNet

DEMO_MODEL = resource_path("models", "demo.pt")
"""The model fine-tuning starts from when MODEL is empty (the same file segment runs by default)."""


def load_base_model(path: str) -> LoadedCheckpoint:
    """The base checkpoint, validated; only U-Net models (the paper's network) can be fine-tuned.

    Raises:
        Low2HighError: a missing or unusable file, an ONNX export, or another architecture.
    """
    if path.lower().endswith(".onnx"):
        raise Low2HighError("MODEL is an ONNX export, which holds no trainable weights; give the .pt checkpoint it "
                            "was exported from.")
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        raise Low2HighError(str(error)) from None
    if loaded.architecture != "unet-resnet18":
        raise Low2HighError(f"MODEL '{os.path.basename(path)}' is a {loaded.architecture} model; fine-tuning adapts "
                            "the U-Net models Low2High trains.")
    return loaded


def set_training_mode(network: nn.Module, freeze_encoder: bool, freeze_batchnorm: bool) -> None:
    """Training mode, except frozen parts: their BatchNorm layers keep their statistics (eval mode)."""
    network.train()
    if freeze_encoder and isinstance(network, UNet):
        network.encoder.eval()
    if freeze_batchnorm:
        for module in network.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def trainable_parameters(network: nn.Module, freeze_encoder: bool) -> list[nn.Parameter]:
    """The parameters the optimiser updates (the encoder's are frozen when asked)."""
    if freeze_encoder and isinstance(network, UNet):
        network.encoder.requires_grad_(False)
    return [parameter for parameter in network.parameters() if parameter.requires_grad]


def snapshot(network: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the weights (the best step so far)."""
    return {name: value.detach().to("cpu", copy=True) for name, value in network.state_dict().items()}


def finetuned_card(base: ModelCard, image: str, facts: dict[str, Any]) -> ModelCard:
    """The new model's card: the card that fed the network, a description and the provenance."""
    training = {"finetune": {**facts, "saved": datetime.datetime.now().isoformat(timespec="seconds"),
                             "torch": str(torch.__version__)},
                "base": base.training}
    description = f"{base.description or 'Low2High model'}; fine-tuned on {os.path.basename(image)}"
    return dataclasses.replace(base, description=description, training=training)
