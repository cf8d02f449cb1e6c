"""From blended class probabilities to one class per pixel: the most probable, or class 0 when unsure.

Low2High's own models take the most probable class everywhere (threshold 0). A model card may
carry a probability threshold, as Deepness models do (``seg_thresh``); the map then follows
Deepness's rule, so the same model draws the same map in both plugins:

* several classes: Deepness zeroes every probability below the threshold and takes the most
  probable class of what is left, which is class 0 when nothing is left, i.e. pixels whose most
  probable class is less probable than the threshold get class 0;
* one sigmoid map (``binary``, held here as the two classes ``(1 - p, p)``): class 1 where ``p``
  reaches the threshold (and is above 0), class 0 elsewhere.
"""
from __future__ import annotations

import numpy as np


def class_map(probabilities: np.ndarray, threshold: float = 0.0, binary: bool = False) -> np.ndarray:
    """(C, H, W) probabilities → (H, W) uint8 class codes under the rule above."""
    if binary:
        positive = probabilities[1]
        return ((positive >= threshold) & (positive > 0)).astype(np.uint8)
    classes = probabilities.argmax(axis=0).astype(np.uint8)
    if threshold > 0:
        classes[probabilities.max(axis=0) < threshold] = 0
    return classes
