"""Score a model (or the Oracle) on dataset splits: accuracy, macro F1, macro mIoU (paper, Sec. 5).

Against the fine (high-resolution) labels by default, as every table of the paper; ``--reference
coarse`` also scores the block majority of the predicted map against the coarse labels (the rule
model selection uses). ``--oracle`` scores the coarse labels themselves, upsampled to the image
(the paper's Oracle row: a perfect low-resolution estimator). The figures come from
engine.evaluation.metrics.ConfusionMatrix, the same code as the QGIS algorithm low2high:evaluate.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ...core.errors import Low2HighError
from ...core.files import atomic_path, atomic_write_json
from ...core.progress import Progress, SilentProgress
from ...engine.evaluation.metrics import ConfusionMatrix, Metrics
from ..config import field
from ..data.info import read_dataset_info, select_chips, split_names

REFERENCES = ("fine", "coarse")


@dataclass
class EvaluateConfig:
    """Settings of ``evaluate`` (flags, or a YAML/JSON file with ``--config``)."""

    checkpoint: str = field("", "model checkpoint (.pt) to score (not needed with --oracle)")
    dataset: str = field("", "dataset folder written by build-dataset")
    splits: list[str] = field(["test"], "splits to score (or 'all')")
    regions: list[str] = field([], "held-out regions to score (the splits region:NAME), instead of the default "
                                   "test split")
    reference: list[str] = field(["fine"], "labels to score against: fine and/or coarse")
    oracle: bool = field(False, "score the upsampled coarse labels instead of a model (the paper's Oracle row)")
    batch_size: int = field(8, "chips per forward pass")
    device: str = field("auto", "auto (GPU when there is one), cpu or cuda")
    amp: bool = field(True, "bfloat16 autocast on GPUs")
    output_json: str = field("", "also write the figures, per-class values and confusion matrices as JSON")
    output_csv: str = field("", "also write a CSV with one row per reference and class")

    def __post_init__(self) -> None:
        unknown = set(self.reference) - set(REFERENCES)
        if unknown or not self.reference:
            raise ValueError(f"reference must be fine and/or coarse (got {self.reference})")


@dataclass
class Evaluation:
    """The scores of one model (or the Oracle) on some chips."""

    name: str
    dataset: str
    splits: list[str]
    chips: int
    metrics: dict[str, Metrics]

    def table(self) -> str:
        """A plain-text table: one row per reference; percentages like the paper's tables."""
        names = next(iter(self.metrics.values())).class_names
        header = f"{'reference':<10}{'Acc':>9}{'F1':>9}{'mIoU':>9}   " + "".join(f"{'IoU ' + n:>16}" for n in names)
        lines = [f"{self.name} on {', '.join(self.splits)} of {os.path.basename(self.dataset)} ({self.chips} chips)",
                 header]
        for reference, metrics in self.metrics.items():
            per_class = "".join(f"{100 * value:>15.2f}%" for value in np.nan_to_num(metrics.iou, nan=0.0))
            lines.append(f"{reference:<10}{100 * metrics.accuracy:>8.2f}%{100 * metrics.macro_f1:>8.2f}%"
                         f"{100 * metrics.macro_iou:>8.2f}%   {per_class}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dataset": self.dataset, "splits": self.splits, "chips": self.chips,
                "references": {reference: {**metrics.summary(), "pixels": metrics.total, "ignored": metrics.ignored,
                                           "per_class": metrics.per_class(), "confusion": metrics.matrix.tolist()}
                               for reference, metrics in self.metrics.items()}}


def oracle_metrics(folder: str, splits: Sequence[str]) -> Metrics:
    """The paper's Oracle: coarse labels upsampled (n x n repetition) scored against fine labels.

    Args:
        folder: Dataset folder.
        splits: Splits (or "region:NAME", or "all") to score.
    """
    from ..data.chips import load_chip, upsample_labels

    info = read_dataset_info(folder)
    matrix = ConfusionMatrix(len(info.class_names), class_names=info.class_names)
    for row in select_chips(info, splits, "Oracle"):
        chip = load_chip(row["path"], ["fine", "coarse"])
        matrix.update(upsample_labels(chip["coarse"], info.factor), chip["fine"])
    return matrix.compute()


def evaluate_model(model: Any, folder: str, splits: Sequence[str], references: Sequence[str] = ("fine",), *,
                   batch_size: int = 8, amp: bool = True,
                   normalisation: Optional[tuple[Sequence[float], Sequence[float]]] = None
                   ) -> tuple[dict[str, Metrics], int]:
    """Score a network (on the device it is on) on whole chips of a dataset.

    Returns:
        (reference → metrics, number of chips scored).
    """
    from ..data.datasets import ChipDataset
    from .validation import score_chips

    dataset = ChipDataset(folder, list(splits), require=None, normalisation=normalisation)
    return score_chips(model, dataset, references, batch_size=batch_size, amp=amp), len(dataset)


def evaluate_checkpoint(path: str, folder: str, splits: Sequence[str], references: Sequence[str] = ("fine",), *,
                        batch_size: int = 8, device: str = "auto", amp: bool = True,
                        progress: Optional[Progress] = None) -> Evaluation:
    """Load a checkpoint and score it on dataset splits (see :func:`evaluate_model`).

    Raises:
        Low2HighError: an unusable checkpoint, or one made for other bands than the dataset's.
    """
    from ...models.checkpoint import CheckpointError, load_checkpoint
    from ..runner.runtime import torch_device

    progress = progress or SilentProgress()
    info = read_dataset_info(folder)
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        raise Low2HighError(str(error)) from None
    card = checkpoint.card
    if len(card.band_names) != info.num_bands:
        raise Low2HighError(f"'{path}' takes {len(card.band_names)} bands ({', '.join(card.band_names)}) but the "
                            f"dataset has {info.num_bands} ({', '.join(info.band_names)}).")
    if list(card.band_names) != list(info.band_names):
        progress.warn(f"'{path}' was trained on bands {', '.join(card.band_names)}; the dataset has "
                      f"{', '.join(info.band_names)}.")
    model = checkpoint.build_model(torch_device(device))
    # The model's own normalisation (its card), as segment uses: a model is scored on the inputs it takes.
    metrics, chips = evaluate_model(model, folder, splits, references, batch_size=batch_size, amp=amp,
                                    normalisation=(card.mean, card.std))
    return Evaluation(os.path.basename(path), info.folder, list(splits), chips, metrics)


def _strict(value: Any) -> Any:
    """NaN (an undefined figure) as null, so the file is standard JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def write_json(path: str, evaluations: Sequence[Evaluation]) -> None:
    atomic_write_json(path, _strict([evaluation.to_dict() for evaluation in evaluations]))


def write_csv(path: str, evaluations: Sequence[Evaluation]) -> None:
    """One row per (model, reference, class), plus an "all classes" row with the macro figures."""
    fields = ["name", "splits", "reference", "class", "accuracy", "macro_f1", "macro_iou", "support", "predicted",
              "precision", "recall", "f1", "iou"]
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for evaluation in evaluations:
            base = {"name": evaluation.name, "splits": " ".join(evaluation.splits)}
            for reference, metrics in evaluation.metrics.items():
                summary = metrics.summary()
                writer.writerow({**base, "reference": reference, "class": "all classes",
                                 **{key: summary[key] for key in ("accuracy", "macro_f1", "macro_iou")},
                                 "support": metrics.total})
                for row in metrics.per_class():
                    writer.writerow({**base, "reference": reference, **row})


def evaluate_config(config: EvaluateConfig, progress: Progress) -> Evaluation:
    """Score what ``config`` names (a checkpoint, or the Oracle) on its splits."""
    if not config.dataset:
        raise Low2HighError("evaluate needs --dataset.")
    splits = split_names(config.splits if not config.regions or config.splits != ["test"] else [], config.regions)
    if config.oracle:
        metrics = {"fine": oracle_metrics(config.dataset, splits)}
        chips = len(select_chips(read_dataset_info(config.dataset), splits))
        return Evaluation("Oracle (upsampled coarse labels)", os.path.abspath(config.dataset), splits, chips, metrics)
    if not config.checkpoint:
        raise Low2HighError("evaluate needs --checkpoint (or --oracle true).")
    return evaluate_checkpoint(config.checkpoint, config.dataset, splits, config.reference,
                               batch_size=config.batch_size, device=config.device, amp=config.amp, progress=progress)
