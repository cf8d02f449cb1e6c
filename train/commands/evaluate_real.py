"""Score models on real NAIP patches and on rendered scenes of unseen seeds, beside NLCD itself.

See :mod:`low2high.train.benchmarks.real`: the figures the demo model is chosen on.
"""
from __future__ import annotations

import argparse

from ...core.destinations import check_destination, check_writable_folder
from ...core.progress import ConsoleProgress
from ..benchmarks.real import RealConfig, evaluate_real, table
from ..config import add_config_arguments, resolve_config

HELP = "mIoU of models on the real NAIP dev patches (both flights) and unseen rendered scenes, beside the Oracle"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, RealConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(RealConfig, args)
    # before the scoring: the figures must not end in "cannot write", nor land on a model scored
    check_destination(config.output_json, "--output-json", (".json",), required=False, create_folder=True,
                      inputs={f"--checkpoints #{index + 1}": path for index, path in enumerate(config.checkpoints)})
    if config.rendered:
        check_writable_folder(config.work, "--work folder")
    print(table(evaluate_real(config, ConsoleProgress())))
    return 0
