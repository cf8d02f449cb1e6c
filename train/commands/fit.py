"""Train a segmentation model on a chip dataset (paper, Sections 4 and 5).

Modes:
  low      cross entropy against coarse labels upsampled to the image (the naive baseline)
  high     cross entropy against fine labels (the upper bound: needs fine labels everywhere)
  agg      region aggregation: the logits of each n x n cell are summed and compared with the
           coarse label (Eq. 1); predictions stay at native resolution
  agg+adv  agg plus the adversarial term against high-resolution label exemplars that have no
           correspondence to the images (soft argmax tau = 1e3, blur 3x3 sigma 0.6, hinge loss):
           the paper's method; add --init encoder.pt from `pretrain` for "+Pre"
  pixel    a context-free per-pixel MLP on upsampled coarse labels (a baseline that cannot learn
           "suburb -> impervious")

Writes into --output: best.pt (the model selected on the validation split; runs in QGIS),
trainer_state.pt (to resume), metrics.csv, curves.png, examples.png, summary.json. Run the same
command again after a crash or Ctrl-C and it continues where it stopped; on many GPUs:
torchrun --nproc_per_node=8 -m low2high.train fit ...
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, resolve_config
from ..fit.config import FitConfig

HELP = "train a segmentation model: low / high / agg / agg+adv (the paper's method) / pixel baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, FitConfig)


def run(args: argparse.Namespace) -> int:
    from ...low2high_plugin.progress import ConsoleProgress
    from ..fit.task import fit

    result = fit(resolve_config(FitConfig, args), ConsoleProgress())
    if result.is_main:
        print(result.describe())
    return 0
