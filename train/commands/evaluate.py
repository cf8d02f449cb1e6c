"""Score a model (or the Oracle) on dataset splits: accuracy, macro F1, macro mIoU (paper, Sec. 5).

Against the fine (high-resolution) labels by default, as every table of the paper; ``--reference
coarse`` also scores the block majority of the predicted map against the coarse labels (the rule
model selection uses). ``--oracle`` scores the coarse labels themselves, upsampled to the image
(the paper's Oracle row: a perfect low-resolution estimator). The figures come from
low2high_plugin.evaluation.metrics.ConfusionMatrix, the same code as the QGIS algorithm low2high:evaluate.
"""
from __future__ import annotations

import argparse

from ..config import add_config_arguments, resolve_config
from ...low2high_plugin.progress import ConsoleProgress
from ..scoring.evaluate import EvaluateConfig, evaluate_config, write_csv, write_json

HELP = "accuracy / macro F1 / macro mIoU of a checkpoint (or the Oracle) on dataset splits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, EvaluateConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(EvaluateConfig, args)
    evaluation = evaluate_config(config, ConsoleProgress())
    print(evaluation.table())
    if config.output_json:
        write_json(config.output_json, [evaluation])
    if config.output_csv:
        write_csv(config.output_csv, [evaluation])
    return 0
