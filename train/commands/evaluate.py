"""Score a model (or the Oracle) on dataset splits: accuracy, macro F1, macro mIoU (paper, Sec. 5).

Against the fine (high-resolution) labels by default, as every table of the paper; ``--reference
coarse`` also scores the block majority of the predicted map against the coarse labels (the rule
model selection uses). ``--oracle`` scores the coarse labels themselves, upsampled to the image
(the paper's Oracle row: a perfect low-resolution estimator). The figures come from
engine.evaluation.metrics.ConfusionMatrix, the same code as the QGIS algorithm low2high:evaluate.
"""
from __future__ import annotations

import argparse
import os

from ...core.destinations import check_destination
from ...core.progress import ConsoleProgress
from ...core.publication import Publication
from ..config import add_config_arguments, resolve_config
from ..data.chips import DATASET_FILE, INDEX_FILE
from ..scoring.evaluate import EvaluateConfig, evaluate_config, write_csv, write_json

HELP = "accuracy / macro F1 / macro mIoU of a checkpoint (or the Oracle) on dataset splits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, EvaluateConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(EvaluateConfig, args)
    # what it reads: the checkpoint, and the dataset's description and index (a .json and a .csv, as the outputs)
    inputs = {"--checkpoint": config.checkpoint}
    if config.dataset:
        inputs.update({f"--dataset's {name}": os.path.join(config.dataset, name)
                       for name in (DATASET_FILE, INDEX_FILE)})
    # before the scoring: minutes of work must not end in "cannot write"
    json_path = check_destination(config.output_json, "--output-json", (".json",), inputs=inputs, required=False,
                                  create_folder=True)
    csv_path = check_destination(config.output_csv, "--output-csv", (".csv",), inputs=inputs,
                                 outputs={"--output-json": json_path}, required=False, create_folder=True)
    evaluation = evaluate_config(config, ConsoleProgress())
    print(evaluation.table())
    with Publication() as publication:  # both files or neither
        if json_path:
            write_json(publication.stage(json_path), [evaluation])
        if csv_path:
            write_csv(publication.stage(csv_path), [evaluation])
    return 0
