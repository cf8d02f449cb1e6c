"""The job's last outputs: one VRT mosaic of every map and a summary table, published together.

The mosaic lets a user open a state's maps as one layer (styled like each map: colour table,
class names, ``.qml``); the table says per raster what happened (pixels, seconds, class shares,
status and why). Both are written at the end of every run, from the manifest, so they describe
all the maps in the folder, those of earlier runs included.
"""
from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import datetime, timezone
from typing import Sequence

from osgeo import gdal

from ...core.progress import Progress
from ...core.publication import Publication
from ..geo.gdal_scope import with_gdal
from ..geo.raster_io import stage_raster, style_class_raster
from ..labels.classes import NODATA, class_colours
from .jobs import DONE, Outcome
from .manifest import MOSAIC_NAME, SUMMARY_NAME

#: The table's columns before the class shares, and after them.
LEADING = ("input", "map", "status", "pixels", "seconds")
TRAILING = ("precision", "worker", "started", "message")


def write_summary(output_dir: str, outcomes: Sequence[Outcome], class_names: Sequence[str],
                  progress: Progress) -> tuple[str, str]:
    """Write ``mosaic.vrt`` (with its style) and ``summary.csv`` into ``output_dir``; returns their paths."""
    mosaic, summary = os.path.join(output_dir, MOSAIC_NAME), os.path.join(output_dir, SUMMARY_NAME)
    done = [os.path.join(output_dir, outcome.output) for outcome in outcomes if outcome.status == DONE]
    with Publication() as publication:
        _write_table(publication.stage(summary, ".csv"), outcomes, class_names)
        if done:
            _write_mosaic(stage_raster(publication, mosaic, ".vrt"), done, class_names, progress)
    return mosaic if done else "", summary


def _write_table(path: str, outcomes: Sequence[Outcome], class_names: Sequence[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        table = csv.writer(stream)
        table.writerow([*LEADING, *(f"{name} share" for name in class_names), *TRAILING])
        for outcome in outcomes:
            shares = [f"{outcome.shares[name]:.4f}" if name in outcome.shares else "" for name in class_names]
            table.writerow([outcome.input_path, outcome.output if outcome.status == DONE else "", outcome.status,
                            outcome.pixels, f"{outcome.seconds:.2f}", *shares, outcome.precision, outcome.worker,
                            _when(outcome.started), outcome.message])


def _when(epoch: float) -> str:
    """A worker's clock reading as UTC ISO 8601 to the second ("" when the raster never started)."""
    if not epoch:
        return ""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@with_gdal
def _write_mosaic(path: str, maps: Sequence[str], class_names: Sequence[str], progress: Progress) -> None:
    """A VRT of the maps that share the most common CRS (a VRT holds one); the others are named."""
    crs = {item: gdal.Open(item).GetProjection() for item in maps}
    common, _ = Counter(crs.values()).most_common(1)[0]
    chosen = [item for item in maps if crs[item] == common]
    left_out = [os.path.basename(item) for item in maps if crs[item] != common]
    if left_out:
        progress.warn(f"mosaic.vrt holds the {len(chosen)} maps in the most common coordinate system; "
                      f"{len(left_out)} in another one are left out of it (a VRT has one): {', '.join(left_out[:10])}"
                      f"{' …' if len(left_out) > 10 else ''}.")
    mosaic = gdal.BuildVRT(path, list(chosen), srcNodata=NODATA, VRTNodata=NODATA)
    mosaic = None  # written when closed  # noqa: F841
    style_class_raster(path, class_names, class_colours(class_names), NODATA)
