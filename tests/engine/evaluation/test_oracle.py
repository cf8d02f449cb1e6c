"""The paper's Oracle on real labels: NLCD as the prediction, 1 m Chesapeake labels as the reference.

Uses the real rasters in ``../shared/data/chesapeake_pg_county`` beside the repository (or the folder
named by ``LOW2HIGH_SHARED_DATA``); skipped where they are not. The engine (remap + evaluate, streamed
over windows) must give exactly what a plain whole-array numpy computation gives.
"""
import os

import numpy as np
import pytest
from helpers import REPO_ROOT
from osgeo import gdal

from low2high.engine.evaluation.evaluate import EvaluateRequest, evaluate
from low2high.engine.labels.remap import RemapRequest, remap


def _data_folder():
    candidates = [os.path.join(REPO_ROOT, "..", "shared", "data", "chesapeake_pg_county")]
    if os.environ.get("LOW2HIGH_SHARED_DATA"):
        shared = os.environ["LOW2HIGH_SHARED_DATA"]
        candidates[:0] = [os.path.join(shared, "chesapeake_pg_county"), shared]
    for folder in candidates:
        if os.path.exists(os.path.join(folder, "pg_county_north_lc.tif")):
            return folder
    return None


DATA = _data_folder()
pytestmark = pytest.mark.skipif(DATA is None, reason="the shared Chesapeake / NLCD rasters are not here")

# Table S1 as sets of source codes (written independently of resources/taxonomies/*.json).
NLCD_TO_MERGED = {0: {11}, 1: {41, 42, 43, 51, 52, 90}, 2: {71, 72, 73, 74, 81, 82, 95}, 3: {21, 22, 23, 24, 31}}
CHESAPEAKE_TO_MERGED = {0: {1}, 1: {2}, 2: {3}, 3: {4, 5, 6}}


def _merged(codes, table):
    merged = np.full(codes.shape, 255, np.uint8)
    for merged_class, sources in table.items():
        merged[np.isin(codes, list(sources))] = merged_class
    return merged


def _figures(prediction, reference):
    """Accuracy, macro F1 / mIoU over present classes and over all four, and per-class F1 / IoU."""
    kept = (prediction != 255) & (reference != 255)
    pairs, counts = np.unique(reference[kept].astype(np.int16) * 16 + prediction[kept], return_counts=True)
    confusion = np.zeros((4, 4), np.int64)
    for pair, count in zip(pairs, counts):
        confusion[pair // 16, pair % 16] = count
    tp = np.diag(confusion).astype(float)
    precision = tp / confusion.sum(axis=0)
    recall = tp / confusion.sum(axis=1)
    f1 = 2 * precision * recall / (precision + recall)
    iou = tp / (confusion.sum(axis=0) + confusion.sum(axis=1) - tp)
    return {"accuracy": tp.sum() / confusion.sum(), "f1": f1, "iou": iou, "macro_f1": f1.mean(),
            "macro_iou": iou.mean(), "confusion": confusion}


def test_oracle_nlcd_against_1m_labels_equals_numpy(tmp_path):
    nlcd_path = os.path.join(DATA, "pg_county_north_nlcd.tif")
    labels_path = os.path.join(DATA, "pg_county_north_lc.tif")
    prediction = remap(RemapRequest(nlcd_path, str(tmp_path / "nlcd_merged.tif"), "nlcd")).output_path
    reference = remap(RemapRequest(labels_path, str(tmp_path / "lc_merged.tif"), "chesapeake")).output_path
    result = evaluate(EvaluateRequest(prediction, reference, str(tmp_path / "oracle.csv"),
                                      str(tmp_path / "oracle.html")))
    metrics = result.metrics

    expected = _figures(_merged(gdal.Open(nlcd_path).ReadAsArray(), NLCD_TO_MERGED),
                        _merged(gdal.Open(labels_path).ReadAsArray(), CHESAPEAKE_TO_MERGED))
    assert np.array_equal(metrics.matrix, expected["confusion"])
    assert metrics.accuracy == pytest.approx(expected["accuracy"], abs=1e-6)
    assert metrics.macro_f1 == pytest.approx(expected["macro_f1"], abs=1e-6)
    assert metrics.macro_iou == pytest.approx(expected["macro_iou"], abs=1e-6)
    assert metrics.macro_f1_all == pytest.approx(expected["macro_f1"], abs=1e-6)  # all four classes occur
    assert metrics.f1 == pytest.approx(expected["f1"], abs=1e-6) and metrics.iou == pytest.approx(expected["iou"])
    assert 0.26 <= metrics.macro_iou <= 0.36  # what ARCHITECTURE.md says NLCD scores there

    print(f"\nOracle (NLCD vs 1 m Chesapeake, {metrics.total:,} px): accuracy {metrics.accuracy:.4%}, "
          f"macro F1 {metrics.macro_f1:.4%}, macro mIoU {metrics.macro_iou:.4%} "
          f"(all 4 classes: F1 {metrics.macro_f1_all:.4%}, mIoU {metrics.macro_iou_all:.4%})")
    for row in metrics.per_class():
        print(f"  {row['class']}: precision {row['precision']:.4%} recall {row['recall']:.4%} "
              f"F1 {row['f1']:.4%} IoU {row['iou']:.4%}")
