"""``evaluate``: how well a class map agrees with a reference map, pixel by pixel.

The whole operation behind ``low2high:evaluate``. The two maps may lie on different grids and in
different CRSs — the paper's Oracle compares 30 m NLCD (Albers) with 1 m labels (UTM): the
prediction is then seen on the reference's grid by nearest neighbour through an in-memory warped
VRT (nothing is written), so each reference pixel is scored at most once, at the reference's resolution
(a warning says what share was scored when the prediction covers only part of the reference).
Both are streamed over windows of the reference into a :class:`~.metrics.ConfusionMatrix`;
pixels nodata (255) in either map are ignored. The figures are fractions in 0–1 (the reports
show them as percentages).
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...core.destinations import check_destination
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled
from ...core.publication import Publication
from ..geo.gdal_scope import with_gdal
from ..geo.raster_io import RasterSource, crs_name
from ..geo.resample import ground_sample_distance
from ..geo.views import check_overlap, nearest_view, same_grid
from ..labels.classes import NODATA
from ..labels.rasters import (
    WINDOW_SIZE,
    count_windows,
    iter_windows,
    read_labels,
    require_integer_labels,
    require_single_band,
)
from .metrics import ConfusionMatrix, Metrics
from .report import Comparison, log_lines, write_html, write_table


@dataclass
class EvaluateRequest:
    """Everything ``evaluate`` needs; the fields mirror the algorithm's parameters."""

    prediction_path: str
    reference_path: str
    table_path: Optional[str] = None  # CSV: per-class figures and the confusion matrix
    html_path: Optional[str] = None  # a report to read
    window_size: int = WINDOW_SIZE


@dataclass
class EvaluateResult:
    metrics: Metrics
    comparison: Comparison
    table_path: Optional[str] = None
    html_path: Optional[str] = None


@with_gdal
def evaluate(request: EvaluateRequest, progress: Optional[Progress] = None) -> EvaluateResult:
    """Score PREDICTION against REFERENCE; optionally write OUTPUT_TABLE (CSV) and OUTPUT_HTML.

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix; nothing is written.
        Cancelled: the user cancelled; nothing is written.
    """
    progress = progress or SilentProgress()
    inputs = {"PREDICTION": request.prediction_path, "REFERENCE": request.reference_path}
    table = check_destination(request.table_path, "OUTPUT_TABLE", (".csv",), inputs=inputs, required=False)
    html = check_destination(request.html_path, "OUTPUT_HTML", (".html", ".htm"), inputs=inputs,
                             outputs={"OUTPUT_TABLE": table}, required=False)
    prediction = RasterSource.open(request.prediction_path, "PREDICTION raster", require_crs=False)
    reference = RasterSource.open(request.reference_path, "REFERENCE raster", require_crs=False)
    require_integer_labels(prediction, "PREDICTION")
    require_integer_labels(reference, "REFERENCE")
    require_single_band(prediction, "PREDICTION")
    require_single_band(reference, "REFERENCE")
    aligned = same_grid(prediction.grid, reference.grid)
    if not aligned:
        check_overlap(prediction.grid, reference.grid, "PREDICTION", "REFERENCE")
    comparison = Comparison(request.prediction_path, request.reference_path, _describe(prediction, reference, aligned))
    progress.info(comparison.how)

    matrix = ConfusionMatrix()
    grid = reference.grid
    total = count_windows(grid.width, grid.height, request.window_size)
    with ExitStack() as stack:
        view = prediction if aligned else stack.enter_context(
            nearest_view(request.prediction_path, grid, NODATA, prediction.nodata[0], "PREDICTION"))
        for done, window in enumerate(iter_windows(grid.width, grid.height, request.window_size)):
            check_canceled(progress)
            truth = _class_window(reference, window, "REFERENCE")
            guess = _class_window(view, window, "PREDICTION")
            labelled = truth != NODATA
            comparison.reference_nodata += int(truth.size - np.count_nonzero(labelled))
            comparison.prediction_nodata += int(np.count_nonzero(labelled & (guess == NODATA)))
            matrix.update(guess, truth)
            progress.set_fraction(0.95 * (done + 1) / total)
    metrics = matrix.compute()
    _check_something_compared(metrics, comparison)
    _warn_partial_cover(metrics, comparison, progress)

    for line in log_lines(metrics, comparison):
        progress.info(line)
    with Publication(check=lambda: check_canceled(progress)) as publication:  # both reports or neither
        if table:
            write_table(publication.stage(table), metrics)
        if html:
            write_html(publication.stage(html), metrics, comparison)
    progress.set_fraction(1.0)
    return EvaluateResult(metrics, comparison, table, html)


def _class_window(source: RasterSource, window, what: str) -> np.ndarray:
    """A window of class codes with the raster's nodata set to 255 (stray codes are refused by the matrix)."""
    codes, valid = read_labels(source, window)
    return np.where(valid, codes, NODATA)


def _check_something_compared(metrics: Metrics, comparison: Comparison) -> None:
    if metrics.total:
        return
    if comparison.prediction_nodata == 0:
        raise Low2HighError("REFERENCE holds only nodata: there is nothing to compare the prediction with. "
                            "Check its nodata value, or choose the reference layer you meant.")
    raise Low2HighError("PREDICTION has no data where REFERENCE is labelled (it is nodata or lies outside there), "
                        "so nothing could be compared. Check that both layers cover the same area.")


#: Below this share of the labelled reference scored, the figures describe a part of it: a warning says which.
FULL_COVER = 0.95


def _warn_partial_cover(metrics: Metrics, comparison: Comparison, progress: Progress) -> None:
    """Say how much of the reference was scored when the prediction covers only part of it.

    A prediction over half the reference is scored on that half alone; the figures are right for
    it, but a reader of "every pixel is scored" took them for the whole reference.
    """
    labelled = metrics.total + comparison.prediction_nodata
    share = metrics.total / labelled
    if share < FULL_COVER:
        progress.warn(f"Only {share:.1%} of the labelled REFERENCE pixels were scored ({metrics.total:,} of "
                      f"{labelled:,}): PREDICTION is nodata or absent over the rest, so the figures describe that "
                      "part only. Classify the whole reference area to score all of it.")


def _describe(prediction: RasterSource, reference: RasterSource, aligned: bool) -> str:
    """One sentence on how the two grids were matched."""
    ref = reference.grid
    if aligned:
        return f"PREDICTION and REFERENCE share one grid ({ref.width} × {ref.height} pixels): compared pixel by pixel."
    pred = prediction.grid
    pred_gsd, ref_gsd = ground_sample_distance(pred), ground_sample_distance(ref)
    return (f"PREDICTION ({pred_gsd:.3g} m pixels, {crs_name(pred.crs_wkt)}) was resampled by nearest neighbour onto "
            f"the REFERENCE grid ({ref_gsd:.3g} m pixels, {crs_name(ref.crs_wkt)}, {ref.width} × {ref.height}); "
            f"each labelled reference pixel is compared with the prediction pixel under its centre.")
