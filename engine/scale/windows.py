"""One very large raster as many window tasks: each maps a window (plus a margin) on any worker.

A single 100,000² mosaic is one raster, so one worker would map it alone for hours. Split into
``window`` × ``window`` pixel windows, it spreads like many rasters: each window is a task and a
manifest entry (a stopped job resumes window by window). A window is mapped by ``segment`` over
an EXTENT one tile overlap wider on every side, so the pixels near its edges see the same context
as inside, and only its own pixels are kept (``<stem>.windows/<stem>.r<row>.c<col>.tif``). When
every window is done, ``<stem>.vrt`` (styled like any map) assembles them. Every window is fed
the input statistics of the whole raster (INPUT_STATISTICS image or blend measured once over it) and,
when the model refines by colour, the class colours fitted on the whole raster's sample, as one
``segment`` run would be. Seams: a window's tiles are laid out from its own corner, so the map can
differ from one ``segment`` run over the whole raster in a few pixels along window edges (tested:
≥ 99 % of pixels equal).
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Sequence

import numpy as np
from osgeo import gdal

from ...core.progress import Progress
from ...core.publication import Publication
from ..geo.gdal_scope import with_gdal
from ..geo.grid import Window
from ..geo.raster_io import RasterSource, scratch_raster, stage_raster, style_class_raster
from ..inference.model import Model
from ..inference.segment import segment_with
from ..labels.classes import NODATA, class_colours
from .jobs import DONE, FAILED, MapSettings, Outcome, RasterTask

WINDOWS_SUFFIX = ".windows"


def windows_folder(output_dir: str, stem: str) -> str:
    return os.path.join(output_dir, stem + WINDOWS_SUFFIX)


def split(task: RasterTask, side: int, output_dir: str) -> list[RasterTask]:
    """The window tasks of a raster wider or taller than ``side`` (the task itself otherwise)."""
    if max(task.width, task.height) <= side:
        return [task]
    folder = windows_folder(output_dir, task.stem)
    tasks = []
    for row in range(0, task.height, side):
        for col in range(0, task.width, side):
            name = f"{task.stem}.r{row:06d}.c{col:06d}"
            width, height = min(side, task.width - col), min(side, task.height - row)
            tasks.append(replace(task, stem=name, output_path=os.path.join(folder, name + ".tif"),
                                 pixels=width * height, window=(col, row, width, height), parent=task.stem))
    return tasks


@with_gdal
def map_window(model: Model, task: RasterTask, settings: MapSettings, progress: Progress) -> Outcome:
    """Map one window of ``task.input_path`` into ``task.output_path`` (see the module)."""
    assert task.window is not None
    col, row, width, height = task.window
    source = RasterSource.open(task.input_path)
    margin = settings.overlap if settings.overlap is not None else model.info.tile_overlap
    core = Window(col, row, width, height)
    wide = Window(col - margin, row - margin, width + 2 * margin, height + 2 * margin).intersection(
        source.grid.full_window)
    assert wide is not None
    folder = os.path.dirname(task.output_path)
    os.makedirs(folder, exist_ok=True)
    with scratch_raster(folder, "window-with-margin") as scratch:
        request = replace(settings.request(task.input_path, scratch), extent=source.grid.subgrid(wide).bounds)
        result = segment_with(model, request, progress, measure_region=source.grid.full_window)
        with Publication() as publication:
            final = stage_raster(publication, task.output_path)
            cropped = gdal.Translate(final, scratch, srcWin=[core.col - wide.col, core.row - wide.row, width, height],
                                     creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
            counts = np.bincount(cropped.GetRasterBand(1).ReadAsArray().ravel(), minlength=256)
            cropped = None  # noqa: F841 (closed: written)
            style_class_raster(final, model.info.class_names, class_colours(model.info.class_names), NODATA)
    total = max(int(counts[: len(model.info.class_names)].sum()), 1)
    shares = {name: round(float(counts[index]) / total, 6) for index, name in enumerate(model.info.class_names)}
    return Outcome(task.stem, task.input_path, DONE, os.path.relpath(task.output_path, os.path.dirname(folder)),
                   pixels=width * height, seconds=round(result.stats.seconds, 3), shares=shares,
                   precision=result.model.precision, size=task.size, mtime_ns=task.mtime_ns, parent=task.parent)


@with_gdal
def assemble(parent: RasterTask, windows: Sequence[Outcome], output_dir: str,
             class_names: Sequence[str]) -> Outcome:
    """The raster's outcome from its windows': ``<stem>.vrt`` of the window maps when all are done."""
    failed = [window for window in windows if window.status != DONE]
    pixels = sum(window.pixels for window in windows)
    seconds = round(sum(window.seconds for window in windows), 3)
    if failed:
        return Outcome(parent.stem, parent.input_path, FAILED, pixels=parent.pixels, seconds=seconds,
                       message=f"{len(failed)} of its {len(windows)} windows failed; the first: {failed[0].message}",
                       size=parent.size, mtime_ns=parent.mtime_ns)
    mosaic = os.path.join(output_dir, parent.stem + ".vrt")
    with Publication() as publication:
        staged = stage_raster(publication, mosaic, ".vrt")
        built = gdal.BuildVRT(staged, [os.path.join(output_dir, window.output) for window in windows])
        built = None  # noqa: F841 (closed: written)
        style_class_raster(staged, class_names, class_colours(class_names), NODATA)
    shares = {name: round(sum(window.shares.get(name, 0.0) * window.pixels for window in windows) / max(pixels, 1), 6)
              for name in class_names}
    return Outcome(parent.stem, parent.input_path, DONE, os.path.basename(mosaic), pixels=pixels, seconds=seconds,
                   shares=shares, precision=windows[0].precision, size=parent.size, mtime_ns=parent.mtime_ns,
                   worker=f"{len(windows)} windows", started=min(window.started for window in windows),
                   finished=max(window.finished for window in windows))
