"""ConfusionMatrix and its metrics against a computation written independently, pixel set by pixel set."""
import math

import numpy as np
import pytest

from low2high.core.errors import Low2HighError
from low2high.engine.evaluation.metrics import ConfusionMatrix


def _reference_metrics(prediction, reference, classes=4, ignore=255):
    """Plain per-class counting with boolean masks (no confusion matrix, no bincount)."""
    kept = (prediction != ignore) & (reference != ignore)
    p, r = prediction[kept], reference[kept]
    f1, iou, present = [], [], []
    for k in range(classes):
        tp = int(np.sum((p == k) & (r == k)))
        fp = int(np.sum((p == k) & (r != k)))
        fn = int(np.sum((p != k) & (r == k)))
        here = tp + fp + fn > 0
        present.append(here)
        f1.append(2 * tp / (2 * tp + fp + fn) if here else 0.0)
        iou.append(tp / (tp + fp + fn) if here else 0.0)
    chosen = [k for k in range(classes) if present[k]]
    return {"accuracy": float(np.mean(p == r)),
            "macro_f1": sum(f1[k] for k in chosen) / len(chosen),
            "macro_iou": sum(iou[k] for k in chosen) / len(chosen),
            "macro_f1_all": sum(f1) / classes, "macro_iou_all": sum(iou) / classes,
            "ignored": int(np.sum(~kept)), "f1": f1, "iou": iou}


def _maps(seed, shape=(300, 400)):
    rng = np.random.default_rng(seed)
    reference = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=shape, p=[0.1, 0.4, 0.3, 0.15, 0.05])
    prediction = reference.copy()
    noise = rng.random(shape) < 0.35
    prediction[noise] = rng.choice(np.array([0, 1, 2, 3, 255], np.uint8), size=int(noise.sum()))
    return prediction, reference


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_an_independent_computation(seed):
    prediction, reference = _maps(seed)
    matrix = ConfusionMatrix()
    matrix.update(prediction, reference)
    metrics, expected = matrix.compute(), _reference_metrics(prediction, reference)
    for key in ("accuracy", "macro_f1", "macro_iou", "macro_f1_all", "macro_iou_all"):
        assert getattr(metrics, key) == pytest.approx(expected[key], abs=1e-12)
    assert metrics.ignored == expected["ignored"]
    assert metrics.f1 == pytest.approx(expected["f1"], abs=1e-12) and metrics.iou == pytest.approx(expected["iou"])
    assert metrics.matrix.dtype == np.int64 and metrics.total + metrics.ignored == prediction.size


def test_precision_and_recall_and_f1_is_their_harmonic_mean():
    prediction, reference = _maps(3)
    metrics = ConfusionMatrix()
    metrics.update(prediction, reference)
    result = metrics.compute()
    kept = (prediction != 255) & (reference != 255)
    for k in range(4):
        predicted_k, reference_k = (prediction == k) & kept, (reference == k) & kept
        precision = np.sum(predicted_k & reference_k) / np.sum(predicted_k)
        recall = np.sum(predicted_k & reference_k) / np.sum(reference_k)
        assert result.precision[k] == pytest.approx(precision) and result.recall[k] == pytest.approx(recall)
        assert result.f1[k] == pytest.approx(2 * precision * recall / (precision + recall))


def test_accumulating_windows_equals_one_pass():
    prediction, reference = _maps(4)
    whole, parts = ConfusionMatrix(), ConfusionMatrix()
    whole.update(prediction, reference)
    for rows in np.array_split(np.arange(prediction.shape[0]), 7):
        parts.update(prediction[rows], reference[rows])
    assert np.array_equal(whole.matrix, parts.matrix) and whole.ignored == parts.ignored
    other = ConfusionMatrix()
    other.update(prediction[:10], reference[:10])
    merged = ConfusionMatrix().merge(whole).merge(other)
    assert merged.matrix.sum() == whole.matrix.sum() + other.matrix.sum()


def test_macro_averages_over_present_classes_only():
    # water (0) occurs in neither map: the macro figures average over forest, field and impervious;
    # the all-class figures count water as 0.
    reference = np.array([1, 1, 2, 2, 3, 3, 255, 1], np.uint8)
    prediction = np.array([1, 2, 2, 2, 3, 1, 0, 255], np.uint8)
    metrics = ConfusionMatrix()
    metrics.update(prediction, reference)
    result = metrics.compute()
    f1 = {1: 2 * 1 / (2 * 1 + 1 + 1), 2: 2 * 2 / (2 * 2 + 1 + 0), 3: 2 * 1 / (2 * 1 + 0 + 1)}
    iou = {1: 1 / 3, 2: 2 / 3, 3: 1 / 2}
    assert result.present.tolist() == [False, True, True, True]
    assert math.isnan(result.f1[0]) and math.isnan(result.iou[0])
    assert result.macro_f1 == pytest.approx(sum(f1.values()) / 3)
    assert result.macro_iou == pytest.approx(sum(iou.values()) / 3)
    assert result.macro_f1_all == pytest.approx(sum(f1.values()) / 4)
    assert result.accuracy == pytest.approx(4 / 6) and result.ignored == 2


def test_a_class_only_predicted_counts_as_present_with_zero():
    reference = np.array([1, 1, 2, 2], np.uint8)
    prediction = np.array([1, 0, 2, 2], np.uint8)  # water predicted, never in the reference
    matrix = ConfusionMatrix()
    matrix.update(prediction, reference)
    result = matrix.compute()
    assert result.present.tolist() == [True, True, True, False]
    assert result.f1[0] == 0 and result.iou[0] == 0 and math.isnan(result.recall[0]) and result.precision[0] == 0
    assert result.macro_f1 == pytest.approx((0 + 2 / 3 + 1) / 3)


def test_counts_are_exact_beyond_32_bits():
    matrix = ConfusionMatrix()
    matrix.matrix[1, 1] = 3 * 2 ** 32 + 1
    matrix.matrix[1, 2] = 2 ** 33
    matrix.update(np.array([1, 2], np.uint8), np.array([1, 1], np.uint8))
    result = matrix.compute()
    assert result.total == 3 * 2 ** 32 + 2 + 2 ** 33 + 1
    assert result.correct == 3 * 2 ** 32 + 2


def test_codes_outside_the_classes_are_refused():
    matrix = ConfusionMatrix()
    with pytest.raises(Low2HighError, match="codes that are not classes 0–3 nor nodata 255 .*: 41"):
        matrix.update(np.array([41, 1], np.uint8), np.array([1, 1], np.uint8))
    with pytest.raises(Low2HighError, match="REFERENCE"):
        matrix.update(np.array([1], np.int16), np.array([-1], np.int16))
    with pytest.raises(ValueError):
        matrix.update(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


def test_empty_matrix_gives_nan_not_an_error():
    result = ConfusionMatrix().compute()
    assert math.isnan(result.accuracy) and math.isnan(result.macro_f1) and result.total == 0
