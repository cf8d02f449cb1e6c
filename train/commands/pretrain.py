"""Self-supervised MAE pretraining of the ResNet-18 on unlabelled image chips (paper, Sec. 4.5, Fig. S3).

A ViT masked autoencoder whose patch embedding is the U-Net's ResNet-18 (applied to each visible
patch alone, so nothing leaks from hidden patches) learns to reconstruct 75 % hidden patches
(per-patch MSE on hidden patches, Eq. S1; 2x upsampling head). Labels are never read.

Writes into --output: encoder.pt (the ResNet-18 weights, bands, width and normalisation, for
`fit --init`), trainer_state.pt (to resume), metrics.csv, curves.png and reconstruction.png
(image / masked / reconstruction / composite, as Fig. S4). Re-running continues the run.
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, resolve_config
from ..pretrain.config import PretrainConfig

HELP = "self-supervised MAE pretraining of the ResNet-18 encoder on image chips (writes encoder.pt for fit --init)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, PretrainConfig)


def run(args: argparse.Namespace) -> int:
    from ...core.progress import ConsoleProgress
    from ..pretrain.task import pretrain

    result = pretrain(resolve_config(PretrainConfig, args), ConsoleProgress())
    if result.is_main:
        print(result.describe())
    return 0
