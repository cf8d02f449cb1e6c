"""Scoring predictions against fine and coarse labels, and the paper's resolution-specific selection.

"Model selection is performed using a resolution-specific validation set, treating each label
set in isolation" (Sec. 5.1): a model trained on coarse labels is selected by how well it agrees
with the *coarse* validation labels, never with fine labels it is not supposed to have; ``high``
is selected on fine labels.

Two views compare a map with coarse labels:

- ``coarse``: the **block majority** of the predicted map (the most frequent class in each n x n
  cell, nodata losing ties), the rule that made the coarse labels from NLCD on the image grid
  (``build-dataset``). ``low`` and ``pixel`` are selected on it: it is what their training
  (every pixel of a cell pushed toward the cell's label) makes them agree with.
- ``aggregated``: the argmax of the logits **summed** over each cell, Eq. 1's own prediction.
  ``agg`` and ``agg+adv`` are selected on it. Region aggregation lets a cell's label be carried
  by part of its pixels (a street carries NLCD's "developed" while lawns and trees around it are
  predicted as they are); judged by block majority, a model that draws those lawns and trees
  disagrees with NLCD, so the better a fine map gets, the worse it would score (measured on the
  Chesapeake scene: block-majority selection picked epoch 4 of an agg+adv run whose fine mIoU
  rose from 15 % to 52 % by epoch 40).

Each method is thus selected by agreement with the coarse labels as its objective defines it;
selection only ranks epochs within one run. Fine-label figures are always computed too, and
logged for information only in coarse modes.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from torch import nn

from ...engine.evaluation.metrics import ConfusionMatrix, Metrics
from ...engine.labels.alignment import block_majority
from ...engine.labels.classes import NODATA
from ..data.datasets import ChipDataset
from ..runner.distributed import Distributed, all_reduce_sum, shard
from .predict import predict_chips

REFERENCES = ("fine", "coarse", "aggregated")
SELECTION_METRIC = "macro_iou"
"""Selection maximises the macro mIoU (the paper's headline figure) of the selection reference (each
mode's :attr:`~..modes.Mode.selection`, one of ``REFERENCES``)."""


def coarse_view(prediction: np.ndarray, factor: int) -> np.ndarray:
    """A predicted map ``(S, S)`` seen at the coarse labels' resolution ``(S/n, S/n)``: block majority."""
    return block_majority(prediction, factor, NODATA)


def score_chips(model: nn.Module, dataset: ChipDataset, references: Sequence[str] = REFERENCES, *,
                batch_size: int = 8, amp: bool = True, context: Optional[Distributed] = None,
                indices: Optional[Sequence[int]] = None) -> dict[str, Metrics]:
    """Acc / F1 / mIoU of a model's predictions on whole chips against fine and/or coarse labels.

    Args:
        model: The network, on the device to run on.
        dataset: Whole chips with labels (``crop=None``).
        references: "fine" (pixel by pixel), "coarse" (block majority vs coarse labels) and/or
            "aggregated" (argmax of cell-summed logits vs coarse labels).
        batch_size: Chips per forward pass.
        amp: bfloat16 autocast on GPUs.
        context: Under torchrun each rank scores its share and the matrices are summed.
        indices: Chips to score (default all).

    Returns:
        Reference name → metrics (identical on every rank).
    """
    unknown = set(references) - set(REFERENCES)
    if unknown:
        raise ValueError(f"unknown reference(s) {sorted(unknown)}; use {REFERENCES}")
    chosen = list(range(len(dataset))) if indices is None else list(indices)
    if context is not None and context.enabled:
        chosen = [chosen[i] for i in shard(len(chosen), context)]
    matrices = {name: ConfusionMatrix(len(dataset.info.class_names), class_names=dataset.info.class_names)
                for name in references}
    factor = dataset.info.factor
    aggregate = factor if "aggregated" in matrices else None
    for chip_indices, predictions, aggregated in predict_chips(model, dataset, batch_size=batch_size, amp=amp,
                                                               indices=chosen, aggregate=aggregate):
        for k, (index, prediction) in enumerate(zip(chip_indices, predictions)):
            arrays = dataset.arrays(index)
            if "fine" in matrices:
                matrices["fine"].update(prediction, arrays["fine"])
            if "coarse" in matrices:
                matrices["coarse"].update(coarse_view(prediction, factor), arrays["coarse"])
            if "aggregated" in matrices:
                assert aggregated is not None  # asked for with aggregate=factor
                matrices["aggregated"].update(aggregated[k], arrays["coarse"])
    if context is not None and context.enabled:
        for matrix in matrices.values():
            counts = np.append(matrix.matrix.ravel(), matrix.ignored)
            counts = all_reduce_sum(counts, context)
            matrix.matrix = counts[:-1].reshape(matrix.matrix.shape)
            matrix.ignored = int(counts[-1])
    return {name: matrix.compute() for name, matrix in matrices.items()}


def metric_columns(prefix: str, metrics: Metrics) -> dict[str, float]:
    """Flat record entries ``<prefix>_accuracy``, ``_macro_f1``, ``_macro_iou`` for logs and CSVs."""
    summary = metrics.summary()
    return {f"{prefix}_{key}": summary[key] for key in ("accuracy", "macro_f1", "macro_iou")}
