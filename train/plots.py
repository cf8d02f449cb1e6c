"""PNG figures of a run: learning curves, example predictions, MAE reconstructions (Fig. S4).

Matplotlib with the Agg backend (no display needed), imported only when a figure is drawn. Class
maps use the merged taxonomy's colours (the same as the QGIS style), nodata is light grey, and
images are shown as true colour with a 2–98 % stretch per band.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from ..core.files import atomic_write
from ..engine.labels.classes import NODATA, class_colours
from .data.chips import upsample_labels

NODATA_COLOUR = (0.88, 0.88, 0.88)
_DPI = 110


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str) -> None:
    """Write the figure atomically (a viewer never sees half a PNG) and close it."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight", facecolor="white")
    _pyplot().close(figure)
    atomic_write(path, lambda stream: stream.write(buffer.getvalue()))


def rgb_bands(band_names: Sequence[str]) -> list[int]:
    """Indices of the red, green and blue bands (else the first three; grey for fewer)."""
    names = [name.lower() for name in band_names]
    if all(colour in names for colour in ("red", "green", "blue")):
        return [names.index(colour) for colour in ("red", "green", "blue")]
    return [0, 1, 2] if len(names) >= 3 else [0, 0, 0]


def display_image(image: np.ndarray, band_names: Sequence[str]) -> np.ndarray:
    """(bands, H, W) pixels → (H, W, 3) floats in 0–1, true colour, 2–98 % stretch per band."""
    rgb = image[rgb_bands(band_names)].astype(np.float32)
    out = np.empty(rgb.shape[1:] + (3,), np.float32)
    for index, band in enumerate(rgb):
        low, high = np.percentile(band, (2, 98))
        out[..., index] = np.clip((band - low) / max(high - low, 1e-6), 0, 1)
    return out


def colour_labels(labels: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Class map (H, W) → (H, W, 3) floats with the class colours, nodata light grey."""
    palette = np.array([NODATA_COLOUR] * 256, np.float32)
    palette[: len(class_names)] = np.array(class_colours(class_names), np.float32) / 255
    return palette[np.clip(labels, 0, NODATA).astype(np.int64)]


def _legend(figure: Any, class_names: Sequence[str]) -> None:
    from matplotlib.patches import Patch

    colours = np.array(class_colours(class_names)) / 255
    handles = [Patch(facecolor=colour, edgecolor="0.3", label=name) for name, colour in zip(class_names, colours)]
    handles.append(Patch(facecolor=NODATA_COLOUR, edgecolor="0.3", label="nodata"))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=10,
                  bbox_to_anchor=(0.5, -0.01))


_METRIC_COLOURS = {"accuracy": "tab:blue", "macro_f1": "tab:orange", "macro_iou": "tab:green"}
_METRIC_NAMES = {"accuracy": "Acc", "macro_f1": "macro F1", "macro_iou": "mIoU"}


def _figure_style(key: str, number: int) -> dict[str, Any]:
    """Colour by metric, solid for coarse labels and dashed for fine labels (``val_<ref>_<metric>``)."""
    name = key[len("val_"):]
    reference, _, metric = name.partition("_")
    if reference in ("coarse", "fine") and metric in _METRIC_COLOURS:
        return {"colour": _METRIC_COLOURS[metric], "line": "-" if reference == "coarse" else "--",
                "label": f"{_METRIC_NAMES[metric]} vs {reference} labels", "percent": True}
    return {"colour": f"C{3 + number % 7}", "line": "-", "label": name.replace("_", " "), "percent": False}


def plot_curves(path: str, history: Sequence[dict[str, Any]], title: str, selection: Optional[str] = None,
                best_epoch: Optional[int] = None) -> None:
    """Training losses (left) and validation figures (right) per epoch.

    Args:
        path: PNG to write.
        history: Per-epoch records (``train_*`` losses, ``val_*`` figures in 0–1).
        title: Figure title.
        selection: The record key model selection maximises (drawn bold).
        best_epoch: Marked with a dashed line.
    """
    plt = _pyplot()
    epochs = [record["epoch"] for record in history]
    losses = [key for key in history[-1] if key.startswith("train_") and key != "train_seconds"]
    figures = [key for key in history[-1] if key.startswith("val_") and key != "val_seconds"]
    figure, axes = plt.subplots(1, 2 if figures else 1, figsize=(12 if figures else 6.5, 4.2), squeeze=False)
    marker = "o" if len(epochs) < 30 else None
    left = axes[0, 0]
    for key in losses:
        values = [record.get(key, math.nan) for record in history]
        left.plot(epochs, values, marker=marker, markersize=3, label=key[len("train_"):])
    left.set(xlabel="epoch", ylabel="training loss (epoch mean)", title="Training")
    if losses:
        left.legend(fontsize=8)
    if figures:
        right = axes[0, 1]
        for number, key in enumerate(figures):
            values = [record.get(key, math.nan) for record in history]
            style = _figure_style(key, number)
            if style["percent"]:
                values = [100 * value for value in values]
            bold = key == selection
            right.plot(epochs, values, marker=marker, markersize=3, linewidth=2.6 if bold else 1.3,
                       color=style["colour"], linestyle=style["line"],
                       label=style["label"] + (" (selection)" if bold else ""))
        right.set(xlabel="epoch", ylabel="%" if all(_figure_style(k, 0)["percent"] for k in figures) else "",
                  title="Validation")
        right.legend(fontsize=8)
    from matplotlib.ticker import MaxNLocator

    for axis in axes.ravel():
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if best_epoch:
            axis.axvline(best_epoch, color="0.4", linestyle="--", linewidth=1)
        if len(epochs) == 1:
            axis.set_xlim(epochs[0] - 1, epochs[0] + 1)
    figure.suptitle(title + (f" — best epoch {best_epoch}" if best_epoch else ""))
    figure.tight_layout()
    _save(figure, path)


def _show_row(axes: Sequence[Any], panels: Sequence[np.ndarray], headers: Optional[Sequence[str]]) -> None:
    """One row of a panel grid: pictures without ticks, column headers on the first row only."""
    for column, panel in enumerate(panels):
        axis = axes[column]
        axis.imshow(panel, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        if headers is not None:
            axis.set_title(headers[column], fontsize=11)


def plot_examples(path: str, images: Sequence[np.ndarray], coarse: Sequence[np.ndarray], fine: Sequence[np.ndarray],
                  predictions: Sequence[np.ndarray], class_names: Sequence[str], band_names: Sequence[str],
                  title: str, factor: int) -> None:
    """Rows of chips: image, coarse labels, fine labels, prediction (with its fine accuracy)."""
    plt = _pyplot()
    rows = len(images)
    figure, axes = plt.subplots(rows, 4, figsize=(13, 3.3 * rows + 0.6), squeeze=False)
    headers = ("Image", f"Coarse labels ({factor} × {factor} px cells)", "Fine labels", "Prediction")
    for row in range(rows):
        kept = (fine[row] != NODATA) & (predictions[row] != NODATA)
        accuracy = (fine[row][kept] == predictions[row][kept]).mean() if kept.any() else math.nan
        coarse_full = upsample_labels(coarse[row], factor)
        panels = (display_image(images[row], band_names), colour_labels(coarse_full, class_names),
                  colour_labels(fine[row], class_names), colour_labels(predictions[row], class_names))
        _show_row(axes[row], panels, headers if row == 0 else None)
        axes[row, 3].text(0.98, 0.03, f"{accuracy:.1%} agree with fine labels", transform=axes[row, 3].transAxes,
                          ha="right", va="bottom", fontsize=9,
                          bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "alpha": 0.85, "linewidth": 0})
    figure.suptitle(title, fontsize=12)
    figure.tight_layout(rect=(0, 0.035, 1, 0.985))
    _legend(figure, class_names)
    _save(figure, path)


def plot_reconstructions(path: str, images: np.ndarray, reconstructions: np.ndarray, masks: np.ndarray,
                         band_names: Sequence[str], title: str) -> None:
    """Fig. S4 for a few samples: image, masked input, reconstruction, composite.

    Args:
        path: PNG to write.
        images, reconstructions: (N, bands, H, W) in the same units (any affine scale of pixels).
        masks: (N, H, W) bool, True where the patch was hidden from the encoder.
        band_names: To pick the true-colour bands.
        title: Figure title.

    Every column of a row uses the original image's stretch, so colours are comparable.
    """
    plt = _pyplot()
    rows = len(images)
    figure, axes = plt.subplots(rows, 4, figsize=(12, 3.1 * rows + 0.4), squeeze=False)
    headers = ("Image", "Masked (encoder input)", "Reconstruction", "Composite")
    bands = rgb_bands(band_names)
    for row in range(rows):
        reference = images[row][bands].reshape(3, -1)
        low, high = np.percentile(reference, 2, axis=1), np.percentile(reference, 98, axis=1)

        def stretch(array: np.ndarray, low: np.ndarray = low, high: np.ndarray = high) -> np.ndarray:
            rgb = (array[bands] - low[:, None, None]) / np.maximum(high - low, 1e-6)[:, None, None]
            return np.clip(rgb.transpose(1, 2, 0), 0, 1)

        hidden = masks[row][..., None]
        image, reconstruction = stretch(images[row]), stretch(reconstructions[row])
        panels = (image, np.where(hidden, 0.5, image), reconstruction, np.where(hidden, reconstruction, image))
        _show_row(axes[row], panels, headers if row == 0 else None)
    figure.suptitle(title, fontsize=12)
    figure.tight_layout()
    _save(figure, path)
