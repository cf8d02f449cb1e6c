"""OUTPUT_PLOT: the fine-tuning curve as a PNG (loss per step, validation agreement, the kept step)."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from ..plots import _pyplot, _save


def loss_series(history: Sequence[dict[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Each training loss as (steps, values) over the records that hold a finite value of it.

    Losses are reported between validation records, so a record of every other step lacks them:
    drawn with NaN in the gaps, a line without markers has no two neighbouring points and the
    panel came out empty.
    """
    keys = list(dict.fromkeys(key for record in history for key in record if key.startswith("train_")))
    series = {}
    for key in keys:
        points = [(record["step"], float(record[key])) for record in history
                  if isinstance(record.get(key), (int, float)) and math.isfinite(record[key])]
        if points:
            series[key[len("train_"):]] = ([step for step, _ in points], [value for _, value in points])
    return series


def plot_finetune(path: str, history: Sequence[dict[str, Any]], best_step: Optional[int], title: str) -> None:
    """Training losses (left) and agreement with the validation blocks' coarse labels (right) per step."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    for label, (steps, values) in loss_series(history).items():
        left.plot(steps, values, label=label, marker="o" if len(steps) < 50 else None, markersize=3)
    left.set(xlabel="step", ylabel="training loss (mean since the last point)", title="Training")
    checked = [record for record in history if "val_macro_iou" in record]
    for key, label, colour in (("val_macro_iou", "mIoU", "tab:green"), ("val_accuracy", "accuracy", "tab:blue")):
        right.plot([r["step"] for r in checked], [100 * r[key] for r in checked], marker="o", markersize=3,
                   color=colour, label=f"{label} vs coarse labels")
    right.set(xlabel="step", ylabel="%", title="Validation blocks (aggregated prediction)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        if best_step is not None:
            axis.axvline(best_step, color="0.4", linestyle="--", linewidth=1)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    figure.suptitle(title + (f" — kept step {best_step}" if best_step is not None else ""))
    figure.tight_layout()
    _save(figure, path)
