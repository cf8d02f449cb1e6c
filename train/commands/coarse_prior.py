"""Count p(fine class | raw coarse code) from a fine and a coarse label raster of the same place.

Writes readable JSON (probabilities and pixel counts per code) for ``fit --mode agg-dist`` /
``agg-dist+adv --prior``; see :mod:`low2high.train.data.priors`. Example (the benchmark's table,
counted on its exemplar band only, never on its test region)::

    python -m low2high.train coarse-prior --fine-labels ../shared/data/chesapeake_pg_county/pg_county_north_lc.tif \\
        --coarse-labels ../shared/data/chesapeake_pg_county/pg_county_north_nlcd.tif \\
        --region pixels:0,2880,6156,960 --output prior.json
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from ...core.destinations import check_destination
from ...core.errors import Low2HighError
from ...core.progress import ConsoleProgress
from ..config import add_config_arguments, field, resolve_config
from ..data.priors import count_prior, write_prior

HELP = "p(fine class | coarse code) from overlapping fine and coarse label rasters, as JSON for agg-dist"


@dataclass
class CoarsePriorConfig:
    """Settings of ``coarse-prior``."""

    fine_labels: str = field("", "high-resolution label raster (e.g. Chesapeake 1 m land cover)")
    coarse_labels: str = field("", "coarse label raster with the raw codes (e.g. NLCD), any CRS")
    output: str = field("", "the prior file to write (.json)")
    fine_taxonomy: str = field("chesapeake", "taxonomy of the fine labels: nlcd, chesapeake, enviroatlas, merged, "
                                             "custom")
    coarse_taxonomy: str = field("nlcd", "taxonomy of the coarse labels (decides which codes are labelled)")
    fine_mapping: str = field("", "custom fine taxonomy: code:class,... or a .json/.csv file")
    coarse_mapping: str = field("", "custom coarse taxonomy: code:class,... or a .json/.csv file")
    region: str = field("", "count only inside 'XMIN,YMIN,XMAX,YMAX' (fine raster CRS) or "
                            "'pixels:COL,ROW,WIDTH,HEIGHT' (keep it apart from any test area)")
    fill_missing: bool = field(False, "codes of the coarse taxonomy absent from the counted area get their "
                                      "taxonomy class as a one-hot row (else fit ignores their blocks)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, CoarsePriorConfig)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(CoarsePriorConfig, args)
    for name in ("fine_labels", "coarse_labels", "output"):
        if not getattr(config, name):
            raise Low2HighError(f"coarse-prior needs --{name.replace('_', '-')}.")
    # before the counting: the prior must never replace what it is counted from, and is JSON whatever its name
    files = {"--fine-labels": config.fine_labels, "--coarse-labels": config.coarse_labels,
             "--fine-mapping": config.fine_mapping, "--coarse-mapping": config.coarse_mapping}
    check_destination(config.output, "--output", (".json",), create_folder=True,
                      inputs={flag: path for flag, path in files.items() if path and os.path.isfile(path)})
    progress = ConsoleProgress()
    prior = count_prior(config.fine_labels, config.coarse_labels, config.fine_taxonomy, config.coarse_taxonomy,
                        config.fine_mapping, config.coarse_mapping, config.region, progress, config.fill_missing)
    write_prior(config.output, prior)
    print(prior.describe())
    print(f"written to {config.output}")
    return 0
