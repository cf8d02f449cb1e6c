"""Reproduce the paper's Tables 1–2 in kind on real labels: ``python -m low2high.train benchmark``.

From the real Chesapeake 1 m land cover and real NLCD of Prince George's County
(``../shared/data/chesapeake_pg_county``), with NAIP-like imagery rendered from the 1 m labels
(``../shared/tools/render_scene.py``: real layout, synthetic appearance), it builds a Low2High
dataset (480-px chips, NLCD put on 30 × 30 blocks by majority), trains every row with one
shared budget, scores all of them against the 1 m labels of a held-out region and prints the
table. The area is cut into bands of rows, so no row's model sees the test area:

- rows 0–2879: training and validation chips (85 / 15 %, seeded);
- rows 2880–3839 (region ``exemplars``): only their 1 m labels are used, as Agg+Adv's unpaired
  high-resolution exemplars (the paper's "small held-out dataset");
- rows 3840–4799 (region ``test``): the held-out test region every row is scored on.

Rows: Oracle (NLCD itself, upsampled), Pixel (a context-free per-pixel MLP on NLCD), Low, High,
Agg, Agg+Adv and Agg+Adv+Pre (MAE-pretrained encoder). ``--quick`` fits the 2-core CPU in under
half an hour (a narrow network, few epochs, a larger learning rate to make up for them); the full
setting is the paper's (width 64, lr 1e-4, 100 epochs) and wants a GPU. Everything is cached in
the work folder: re-running resumes and reuses finished rows.
"""
from __future__ import annotations

import argparse

from ...core.destinations import check_writable_folder
from ...core.progress import ConsoleProgress
from ..benchmarks.paper import BenchmarkConfig, benchmark
from ..config import add_config_arguments, resolve_config

HELP = "reproduce the paper's Tables 1-2 in kind on the real Chesapeake/NLCD labels (--quick: CPU, < 30 min)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, BenchmarkConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(BenchmarkConfig, args)
    check_writable_folder(config.work, "--work folder")  # before minutes of rendering, not after
    results = benchmark(config, ConsoleProgress())
    print(results["table"])
    return 0
