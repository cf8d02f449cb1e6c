"""Cut aligned chips of image, fine labels and coarse labels into a training dataset (paper, Section 3.1).

``python -m low2high.train build-dataset --image naip.tif --fine-labels lc.tif --coarse-labels nlcd.tif
--output data/`` remaps both label sources to the merged taxonomy (0 water, 1 forest, 2 field,
3 impervious, 255 ignore), puts the coarse labels on the image's n × n block grid by majority (n
from the pixel sizes, or ``--factor``), and cuts non-overlapping S × S chips from the image's
top-left corner (S a multiple of n, so every chip holds whole blocks). Like the paper, it omits
any chip with fewer than 3 classes in either label source, or with one class covering more than
75 % of it (in either source); chips missing too much data are omitted too. The kept chips are
split train / val / held-out / test (75 / 10 / 10 / 5 %, seeded), and chips inside named regions
form their own ``region:<name>`` splits. The label rasters may be in any CRS: they are seen on the
image's grid by nearest neighbour (in memory).

It writes ``dataset.json`` (settings, taxonomies, n, bands, train-split mean / std in pixel / 255
units), ``index.csv`` (chip, split, window, class histograms) and one ``chips/<id>.npz`` per chip
holding ``image`` (bands, S, S), ``fine`` (S, S) and ``coarse`` (S / n, S / n) as uint8 plus the chip's
geotransform and CRS; :mod:`low2high.train.data.chips` documents every key. Building is resumable: a
re-run with the same settings skips the chips already written (a chip file is renamed into
place only when complete, so an interrupted run never leaves a corrupt one) and rewrites the
index; a folder built with other settings is refused. Ctrl-C stops cleanly.
"""
from __future__ import annotations

import argparse

from ...core.destinations import check_writable_folder
from ...core.progress import ConsoleProgress
from ..config import add_config_arguments, resolve_config
from ..data.builder import BuildDatasetConfig, build_dataset

HELP = "cut aligned image / fine-label / coarse-label chips into a training dataset (paper, Section 3.1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, BuildDatasetConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(BuildDatasetConfig, args)
    if config.output:
        check_writable_folder(config.output, "output folder")
    print(build_dataset(config, ConsoleProgress()).describe())
    return 0
