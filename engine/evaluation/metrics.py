"""Accuracy, F1 and IoU of class maps, from a confusion matrix accumulated batch by batch.

Pure numpy (no GDAL, no torch): ``low2high:evaluate`` streams raster windows into it and the
training loops feed it validation batches, so both report the very same numbers. Counts are
int64, so the metrics are exact whatever the number of pixels.

Definitions, with ``C`` the confusion matrix (rows: reference class, columns: predicted class),
``row_k`` / ``col_k`` its row / column sums and ``tp_k = C[k, k]``:

* overall accuracy = ``trace(C) / sum(C)``;
* precision_k = ``tp_k / col_k``, recall_k = ``tp_k / row_k`` (NaN when the denominator is 0);
* F1_k = ``2 tp_k / (row_k + col_k)``, the harmonic mean of precision and recall (0 when
  ``tp_k`` is 0 but the class occurs), IoU_k = ``tp_k / (row_k + col_k - tp_k)``;
* class k is *present* when ``row_k + col_k > 0``: it occurs in the reference or in the
  prediction. F1_k and IoU_k are NaN for classes that are not present;
* **macro F1 / macro mIoU** (the paper's "macro strategy", the headline figures): the unweighted
  mean of F1_k / IoU_k over the *present* classes. This is what scikit-learn's
  ``f1_score(average="macro")`` and ``jaccard_score(average="macro")`` compute when given no
  ``labels`` (they use the labels found in either input);
* **macro over all classes** (``macro_f1_all``, ``macro_iou_all``): the mean over all K classes,
  a class present in neither map counting as 0 (scikit-learn's ``zero_division=0``). It equals the
  present-class figure whenever every class occurs;
* macro precision / recall average over the present classes, an undefined value counting as 0.

Pixels that are nodata (255) in the reference *or* the prediction are ignored and counted apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..labels.classes import MERGED_NAMES, NODATA, check_class_codes


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise ratio, NaN where the denominator is 0 (undefined, not zero)."""
    numerator, denominator = numerator.astype(np.float64), denominator.astype(np.float64)
    result = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result


@dataclass(frozen=True)
class Metrics:
    """The figures of one confusion matrix; every rate is a fraction in 0–1."""

    class_names: tuple[str, ...]
    matrix: np.ndarray  # (K, K) int64, rows reference, columns prediction
    ignored: int = 0  # pixels nodata in the reference or the prediction

    @property
    def total(self) -> int:
        """Pixels compared (neither map nodata)."""
        return int(self.matrix.sum())

    @property
    def correct(self) -> int:
        return int(np.trace(self.matrix))

    @property
    def true_positives(self) -> np.ndarray:
        return np.diag(self.matrix).copy()

    @property
    def support(self) -> np.ndarray:
        """Reference pixels of each class."""
        return self.matrix.sum(axis=1)

    @property
    def predicted(self) -> np.ndarray:
        """Predicted pixels of each class."""
        return self.matrix.sum(axis=0)

    @property
    def present(self) -> np.ndarray:
        """Classes occurring in the reference or in the prediction."""
        return (self.support + self.predicted) > 0

    @property
    def accuracy(self) -> float:
        return float(self.correct / self.total) if self.total else float("nan")

    @property
    def precision(self) -> np.ndarray:
        return _ratio(self.true_positives, self.predicted)

    @property
    def recall(self) -> np.ndarray:
        return _ratio(self.true_positives, self.support)

    @property
    def f1(self) -> np.ndarray:
        return _ratio(2 * self.true_positives, self.support + self.predicted)

    @property
    def iou(self) -> np.ndarray:
        return _ratio(self.true_positives, self.support + self.predicted - self.true_positives)

    def _macro(self, values: np.ndarray, over_all: bool = False) -> float:
        chosen = np.nan_to_num(values if over_all else values[self.present], nan=0.0)
        return float(chosen.mean()) if chosen.size else float("nan")

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes present in the reference or the prediction (the headline F1)."""
        return self._macro(self.f1)

    @property
    def macro_iou(self) -> float:
        """Mean IoU over the classes present in the reference or the prediction (the headline mIoU)."""
        return self._macro(self.iou)

    @property
    def macro_f1_all(self) -> float:
        """Mean F1 over all classes, absent ones counting 0."""
        return self._macro(self.f1, over_all=True)

    @property
    def macro_iou_all(self) -> float:
        """Mean IoU over all classes, absent ones counting 0."""
        return self._macro(self.iou, over_all=True)

    @property
    def macro_precision(self) -> float:
        return self._macro(self.precision)

    @property
    def macro_recall(self) -> float:
        return self._macro(self.recall)

    @property
    def micro_iou(self) -> float:
        """Pooled IoU: all true positives over all (TP + FP + FN); micro precision = recall = F1 = accuracy."""
        return float(self.correct / (2 * self.total - self.correct)) if self.total else float("nan")

    def summary(self) -> dict[str, float]:
        """The headline figures, as a flat mapping (for logs and checkpoints)."""
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "macro_iou": self.macro_iou,
                "macro_f1_all": self.macro_f1_all, "macro_iou_all": self.macro_iou_all}

    def per_class(self) -> list[dict[str, Any]]:
        """One mapping per class: name, support, predicted, precision, recall, f1, iou."""
        rows = []
        for index, name in enumerate(self.class_names):
            rows.append({"class": name, "support": int(self.support[index]), "predicted": int(self.predicted[index]),
                         "precision": float(self.precision[index]), "recall": float(self.recall[index]),
                         "f1": float(self.f1[index]), "iou": float(self.iou[index])})
        return rows


class ConfusionMatrix:
    """Counts (reference, prediction) pairs over any number of windows or batches.

    Args:
        num_classes: K; valid codes are 0 … K-1.
        ignore_index: the nodata code; a pixel holding it in either map is not counted.
        class_names: names for reports (default: the merged taxonomy's four).
    """

    def __init__(self, num_classes: int = len(MERGED_NAMES), ignore_index: int = NODATA,
                 class_names: Optional[Sequence[str]] = None) -> None:
        if class_names is None:
            class_names = MERGED_NAMES if num_classes == len(MERGED_NAMES) else [str(k) for k in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = tuple(class_names)
        self.matrix = np.zeros((num_classes, num_classes), np.int64)
        self.ignored = 0

    def _check_codes(self, codes: np.ndarray, what: str) -> None:
        check_class_codes(codes, what, "Remap it to the merged taxonomy first with low2high:remap (e.g. TAXONOMY "
                          "nlcd for NLCD).", self.num_classes, self.ignore_index)

    def update(self, prediction: np.ndarray, reference: np.ndarray) -> None:
        """Add pixels: two integer arrays of the same shape (any shape)."""
        prediction, reference = np.asarray(prediction), np.asarray(reference)
        if prediction.shape != reference.shape:
            raise ValueError(f"prediction {prediction.shape} and reference {reference.shape} differ in shape")
        if not (np.issubdtype(prediction.dtype, np.integer) and np.issubdtype(reference.dtype, np.integer)):
            raise ValueError("class maps must hold integers")
        prediction, reference = prediction.ravel(), reference.ravel()
        self._check_codes(prediction, "PREDICTION")
        self._check_codes(reference, "REFERENCE")
        kept = (reference != self.ignore_index) & (prediction != self.ignore_index)
        pairs = reference[kept].astype(np.int64) * self.num_classes + prediction[kept]
        self.matrix += np.bincount(pairs, minlength=self.num_classes ** 2).reshape(self.num_classes, self.num_classes)
        self.ignored += int(kept.size - np.count_nonzero(kept))

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add another matrix's counts (e.g. from another process) to this one."""
        if other.num_classes != self.num_classes:
            raise ValueError("cannot merge confusion matrices of different class counts")
        self.matrix += other.matrix
        self.ignored += other.ignored
        return self

    def compute(self) -> Metrics:
        """The metrics of the pixels counted so far."""
        return Metrics(self.class_names, self.matrix.copy(), self.ignored)
