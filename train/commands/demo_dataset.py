"""Build the benchmark's dataset from several rendered appearances (the demo model's training data).

See :mod:`low2high.train.benchmarks.appearances`.
"""
from __future__ import annotations

import argparse

from ...core.destinations import check_writable_folder
from ...core.progress import ConsoleProgress
from ..benchmarks.appearances import AppearancesConfig, build_appearances
from ..config import add_config_arguments, resolve_config

HELP = "the benchmark's dataset with training chips from several rendered appearances (seeds, flight shifts)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, AppearancesConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(AppearancesConfig, args)
    check_writable_folder(config.work, "--work folder")  # before minutes of rendering, not after
    result = build_appearances(config, ConsoleProgress())
    print(f"{result['dataset']} ({'; '.join(result['appearances'])})")
    return 0
