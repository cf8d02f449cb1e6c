"""What ``evaluate`` tells people: log lines, a CSV table for spreadsheets, an HTML page to read.

The CSV is one rectangular table (pandas / spreadsheet friendly): a row per class, then an
``overall`` row (column sums; micro precision = recall = F1 = accuracy) and the two macro rows;
the ``predicted_as_<class>`` columns of the class rows are the confusion matrix (rows:
reference class). Rates are fractions in 0–1; undefined ones are empty. The HTML page shows the
headline figures, a per-class table and the confusion matrix shaded by share, and says what was
left out and why — a person should not need to read numbers to see where a map goes wrong.
"""
from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass

from ...core.files import atomic_write_text
from ..labels.classes import MERGED_COLOURS
from .metrics import Metrics


@dataclass
class Comparison:
    """What was compared, how the grids were matched, and which pixels were left out."""

    prediction_path: str
    reference_path: str
    how: str
    reference_nodata: int = 0  # reference pixels without a label
    prediction_nodata: int = 0  # labelled reference pixels where the prediction is nodata or absent


def _publish(path: str, text: str) -> None:
    """Write a text file completely beside its destination, then move it into place (a path staged in
    the run's publication is written in place and appears with the run's other outputs)."""
    atomic_write_text(path, text)


def _percent(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.{digits}f} %"


def _fraction(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6f}"


def _present_note(metrics: Metrics) -> str:
    absent = [name for name, here in zip(metrics.class_names, metrics.present) if not here]
    count = int(metrics.present.sum())
    note = f"averaged over the {count} classes present in either map"
    return note + (f" ({', '.join(absent)} absent)" if absent else "")


def log_lines(metrics: Metrics, comparison: Comparison) -> list[str]:
    """The figures as a few readable lines for the processing log."""
    lines = [f"Overall accuracy {_percent(metrics.accuracy)}, macro F1 {_percent(metrics.macro_f1)}, "
             f"macro mIoU {_percent(metrics.macro_iou)} ({_present_note(metrics)}; over all "
             f"{len(metrics.class_names)} classes: F1 {_percent(metrics.macro_f1_all)}, "
             f"mIoU {_percent(metrics.macro_iou_all)})."]
    for row in metrics.per_class():
        lines.append(f"  {row['class']}: precision {_percent(row['precision'])}, recall {_percent(row['recall'])}, "
                     f"F1 {_percent(row['f1'])}, IoU {_percent(row['iou'])} "
                     f"({row['support']:,} reference px, {row['predicted']:,} predicted px).")
    lines.append(f"{metrics.total:,} pixels compared; ignored: {comparison.reference_nodata:,} without a reference "
                 f"label, {comparison.prediction_nodata:,} labelled but nodata or outside in the prediction.")
    return lines


def table_text(metrics: Metrics) -> str:
    """The CSV table (see the module docstring for its layout)."""
    names = metrics.class_names
    header = ["row", "code", "class", "reference_pixels", "predicted_pixels", "correct_pixels",
              "precision", "recall", "f1", "iou"] + [f"predicted_as_{name}" for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    tp = metrics.true_positives
    for index, name in enumerate(names):
        writer.writerow(["class", index, name, int(metrics.support[index]), int(metrics.predicted[index]),
                         int(tp[index]),
                         _fraction(metrics.precision[index]), _fraction(metrics.recall[index]),
                         _fraction(metrics.f1[index]), _fraction(metrics.iou[index])]
                        + [int(count) for count in metrics.matrix[index]])
    accuracy = _fraction(metrics.accuracy)
    writer.writerow(["overall", "", "all pixels (micro average)", metrics.total, metrics.total, metrics.correct,
                     accuracy, accuracy, accuracy, _fraction(metrics.micro_iou)]
                    + [int(count) for count in metrics.predicted])
    blanks = [""] * len(names)
    writer.writerow(["macro_present", "", f"macro over the {int(metrics.present.sum())} present classes", "", "", "",
                     _fraction(metrics.macro_precision), _fraction(metrics.macro_recall),
                     _fraction(metrics.macro_f1), _fraction(metrics.macro_iou)] + blanks)
    writer.writerow(["macro_all", "", f"macro over all {len(names)} classes", "", "", "", "", "",
                     _fraction(metrics.macro_f1_all), _fraction(metrics.macro_iou_all)] + blanks)
    return buffer.getvalue()


def write_table(path: str, metrics: Metrics) -> None:
    _publish(path, table_text(metrics))


def _swatch(index: int) -> str:
    colour = MERGED_COLOURS[index] if index < len(MERGED_COLOURS) else (128, 128, 128)
    hex_colour = "#%02x%02x%02x" % colour
    return f'<span style="background-color:{hex_colour}; color:{hex_colour};">&#9632;&#9632;</span>'


def _shade(share: float, good: bool) -> str:
    """A background colour whose strength shows ``share`` (green on the diagonal, red off it)."""
    if math.isnan(share) or share <= 0:
        return "#ffffff"
    strength = 0.15 + 0.85 * min(share, 1.0)
    base = (46, 139, 87) if good else (200, 60, 50)
    mixed = tuple(round(255 - (255 - channel) * strength) for channel in base)
    return "#%02x%02x%02x" % mixed


_STYLE = """
body { font-family: sans-serif; color: #222; margin: 16px; }
h1 { font-size: 20px; margin-bottom: 2px; } h2 { font-size: 16px; margin-top: 22px; }
.files { color: #555; font-size: 12px; }
table.grid { border-collapse: collapse; } table.grid td, table.grid th { border: 1px solid #ccc; padding: 4px 8px; }
table.grid th { background-color: #f2f2f2; white-space: nowrap; } td.num { text-align: right; white-space: nowrap; }
td.headline { padding: 10px 24px; text-align: center; } .big { font-size: 28px; font-weight: bold; }
.small { font-size: 11px; color: #555; }
"""


def html_text(metrics: Metrics, comparison: Comparison) -> str:
    """A self-contained HTML page (renders in QGIS's viewer and any browser)."""
    esc = html.escape
    names = metrics.class_names
    parts = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Land-cover evaluation</title>"
             f"<style>{_STYLE}</style></head><body>",
             "<h1>Land-cover map evaluation</h1>",
             f"<p class=\"files\">Prediction: {esc(comparison.prediction_path)}<br>"
             f"Reference: {esc(comparison.reference_path)}</p>",
             "<table><tr>"]
    for title, value in (("Overall accuracy", metrics.accuracy), ("Macro F1", metrics.macro_f1),
                         ("Macro mIoU", metrics.macro_iou)):
        parts.append(f"<td class=\"headline\"><span class=\"big\">{_percent(value, 1)}</span><br>{title}</td>")
    parts.append("</tr></table>")
    parts.append(f"<p class=\"small\">Macro figures are {esc(_present_note(metrics))}, each class weighing the same "
                 f"(the paper's macro strategy). Averaged over all {len(names)} classes, an absent class counting 0: "
                 f"F1 {_percent(metrics.macro_f1_all)}, mIoU {_percent(metrics.macro_iou_all)}.</p>")

    parts.append("<h2>Per class</h2><table class=\"grid\"><tr><th>Class</th><th>Reference pixels</th>"
                 "<th>Predicted pixels</th><th>Precision</th><th>Recall</th><th>F1</th><th>IoU</th></tr>")
    total = max(metrics.total, 1)
    for index, row in enumerate(metrics.per_class()):
        cells = [f"<td style=\"white-space: nowrap;\">{_swatch(index)} {esc(row['class'])}</td>",
                 f"<td class=\"num\">{row['support']:,} ({_percent(row['support'] / total, 1)})</td>",
                 f"<td class=\"num\">{row['predicted']:,} ({_percent(row['predicted'] / total, 1)})</td>"]
        for key in ("precision", "recall", "f1", "iou"):
            value = row[key]
            cells.append(f"<td class=\"num\" bgcolor=\"{_shade(value, True)}\">{_percent(value, 1)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")

    parts.append("<h2>Confusion matrix</h2><p class=\"small\">Rows: reference class; columns: predicted class. "
                 "Each cell gives the pixels and their share of the reference class (the row); green cells are "
                 "agreement, red cells confusion — the darker, the larger.</p>")
    parts.append("<table class=\"grid\"><tr><th>reference \\ predicted</th>"
                 + "".join(f"<th>{esc(name)}</th>" for name in names) + "<th>total</th></tr>")
    for index, name in enumerate(names):
        row_total = int(metrics.support[index])
        cells = [f"<th>{esc(name)}</th>"]
        for column in range(len(names)):
            count = int(metrics.matrix[index, column])
            share = count / row_total if row_total else float("nan")
            cells.append(f"<td class=\"num\" bgcolor=\"{_shade(share, index == column)}\">{count:,}<br>"
                         f"<span class=\"small\">{_percent(share, 1)}</span></td>")
        cells.append(f"<td class=\"num\">{row_total:,}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("<tr><th>total</th>" + "".join(f"<td class=\"num\">{int(count):,}</td>" for count in metrics.predicted)
                 + f"<td class=\"num\">{metrics.total:,}</td></tr></table>")

    ignored = comparison.reference_nodata + comparison.prediction_nodata
    parts.append("<h2>What was compared</h2><ul>"
                 f"<li>{esc(comparison.how)}</li>"
                 f"<li>{metrics.total:,} pixels compared; {metrics.correct:,} agree.</li>"
                 f"<li>{ignored:,} pixels ignored: {comparison.reference_nodata:,} have no reference label "
                 f"(nodata 255 or the reference's nodata value), {comparison.prediction_nodata:,} are labelled but "
                 "the prediction is nodata there or does not cover them.</li>")
    absent = [name for name, here in zip(names, metrics.present) if not here]
    if absent:
        parts.append(f"<li>Classes in neither map: {esc(', '.join(absent))}; they are left out of the macro "
                     "figures.</li>")
    parts.append("</ul><p class=\"small\">Precision: share of the pixels predicted as a class that are that class in "
                 "the reference; recall: share of the reference pixels of a class that were found; F1: their "
                 "harmonic mean; IoU: agreement over the union of both maps' pixels of the class.</p></body></html>")
    return "\n".join(parts)


def write_html(path: str, metrics: Metrics, comparison: Comparison) -> None:
    _publish(path, html_text(metrics, comparison))
