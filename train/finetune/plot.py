"""OUTPUT_PLOT: the fine-tuning curve as a PNG (loss per step, validation agreement, the kept step)."""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from ..plots import _pyplot, _save


def plot_finetune(path: str, history: Sequence[dict[str, Any]], best_step: Optional[int], title: str) -> None:
    """Training losses (left) and agreement with the validation blocks' coarse labels (right) per step."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    losses = [key for key in history[-1] if key.startswith("train_")] if history else []
    steps = [record["step"] for record in history]
    for key in losses:
        left.plot(steps, [record.get(key, math.nan) for record in history], label=key[len("train_"):])
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
