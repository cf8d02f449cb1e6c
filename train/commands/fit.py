"""Train a segmentation model on a chip dataset (paper, Sections 4 and 5).

--mode chooses the label loss and what comes with it: the modes are listed below, from their one
table (low2high/train/modes.py). agg+adv, the default, is the paper's method; add --init encoder.pt
from `pretrain` for its "+Pre".

Writes into --output: best.pt (the model selected on the validation split; runs in QGIS),
trainer_state.pt (to resume), metrics.csv, curves.png, examples.png, summary.json. Run the same
command again after a crash or Ctrl-C and it continues where it stopped; on many GPUs:
torchrun --nproc_per_node=8 -m low2high.train fit ...
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, resolve_config
from ..fit.config import FitConfig
from ..modes import MODES, describe

HELP = "train a segmentation model, --mode " + " / ".join(MODES)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = f"{parser.description}\nModes:\n{describe()}\n"
    add_config_arguments(parser, FitConfig)


def run(args: argparse.Namespace) -> int:
    from ...core.progress import ConsoleProgress
    from ..fit.task import fit

    result = fit(resolve_config(FitConfig, args), ConsoleProgress())
    if result.is_main:
        print(result.describe())
    return 0
