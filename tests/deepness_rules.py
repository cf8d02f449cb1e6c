"""What the Deepness QGIS plugin does with an ONNX model, restated from its documentation.

The tests check Low2High's exports against Deepness, and ``segment``'s maps of Deepness models
against Deepness's, without Deepness itself (a QGIS GUI plugin with OpenCV): this module writes
its documented rules down once. Sources, the plugin's documentation (qgis-plugin-deepness.readthedocs.io):

* "Adding metadata to ONNX model": every metadata value is JSON; ``model_type`` (Segmentor,
  Regressor, Detector ...), ``class_names`` ({id: name}), ``resolution`` (centimetres per pixel),
  ``tile_size``, ``tiles_overlap`` ("how many percent of the image size overlap", a whole number),
  ``standardization_mean`` / ``standardization_std`` ("to standardize input after normalisation"),
  ``seg_thresh`` ("class confidence threshold").
* "Model classes and requirements": one input ``[BATCH_SIZE, CHANNELS, SIZE_PX, SIZE_PX]``, the
  tile size being the model's; uint8 pixels; tiles padded with 0 where they pass the ortophoto's
  edge; a segmentation output ``[BATCH_SIZE, NUM_CLASSES, SIZE_PX, SIZE_PX]`` of softmax
  probabilities.
* "UI explanation": *Load default parameters* fills the panel from the metadata; *Apply class
  probability threshold* (on, 0.5, unless the metadata says otherwise) is the "minimum required
  probability for the class"; *Remove small segment areas* (on, 9 px, unless ``seg_small_segment``
  says otherwise) smooths the finished map; tiles overlap "so that [edge distortions] can be removed
  in postprocessing": each tile keeps its centre, half the overlap trimmed from every side it shares.
  (The smoothing is read here, not applied: the models of these tests set it to 0.)

Two details measured on Deepness 0.6.5 by the issue this was written for: the overlap in pixels is
``floor(tile * percent / 100)`` (12 % of 512 px gave 61 px), and a graph whose input side is a
name rather than a number fails to load ("setValue(...): argument 1 has unexpected type 'str'").
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

#: The panel's values before "Load default parameters" changes them.
PANEL_THRESHOLD = 0.5
PANEL_OVERLAP_PERCENT = 15
PANEL_SMALL_SEGMENT = 9


class DeepnessLoadError(Exception):
    """The model would fail to load in Deepness's panel."""


@dataclass(frozen=True)
class DeepnessSettings:
    """Deepness's panel after *Load default parameters*."""

    model_type: str
    class_names: list
    resolution_cm: float
    tile_size: int
    overlap_px: int
    mean: np.ndarray
    std: np.ndarray
    threshold: float
    small_segment: int


def load_default_parameters(path: str) -> DeepnessSettings:
    """Open the model as Deepness's panel does and fill the panel from its metadata."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = {key: json.loads(value) for key, value in session.get_modelmeta().custom_metadata_map.items()}
    (graph_input,) = session.get_inputs()
    side = graph_input.shape[-1]
    if not isinstance(side, int):
        raise DeepnessLoadError(f"Failed to load the model: the tile size box cannot take {side!r}")
    names = meta.get("class_names", {})
    class_names = [names[key] for key in sorted(names, key=int)]
    if [int(key) for key in sorted(names, key=int)] != list(range(len(names))):
        raise DeepnessLoadError("class names are not consecutive")
    bands = graph_input.shape[1]
    percent = int(meta.get("tiles_overlap", PANEL_OVERLAP_PERCENT))
    return DeepnessSettings(
        model_type=str(meta.get("model_type", "")).capitalize(),
        class_names=class_names,
        resolution_cm=float(meta["resolution"]) if "resolution" in meta else math.nan,
        tile_size=side,
        overlap_px=math.floor(side * percent / 100),
        mean=np.asarray(meta.get("standardization_mean", [0.0] * bands), np.float32),
        std=np.asarray(meta.get("standardization_std", [1.0] * bands), np.float32),
        threshold=float(meta.get("seg_thresh", PANEL_THRESHOLD)),
        small_segment=int(meta.get("seg_small_segment", PANEL_SMALL_SEGMENT)),
    )


def deepness_map(path: str, image: np.ndarray, settings: DeepnessSettings) -> np.ndarray:
    """The class map Deepness draws of a whole (bands, H, W) uint8 image with a segmentation model."""
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    tile, overlap = settings.tile_size, settings.overlap_px
    stride, trim = tile - overlap, overlap // 2
    _, height, width = image.shape
    rows, cols = _starts(height, tile, stride), _starts(width, tile, stride)
    padded = np.zeros((image.shape[0], rows[-1] + tile, cols[-1] + tile), np.uint8)  # 0 past the edge
    padded[:, :height, :width] = image
    result = np.zeros(padded.shape[1:], np.uint8)
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            pixels = padded[:, row:row + tile, col:col + tile].astype(np.float32) / 255  # normalisation
            inputs = (pixels - settings.mean[:, None, None]) / settings.std[:, None, None]  # standardisation
            (scores,) = session.run(None, {name: inputs[None].astype(np.float32)})
            classes = _classes(scores[0], settings.threshold)
            top = 0 if i == 0 else trim
            left = 0 if j == 0 else trim
            bottom = tile if i == len(rows) - 1 else tile - trim
            right = tile if j == len(cols) - 1 else tile - trim
            result[row + top:row + bottom, col + left:col + right] = classes[top:bottom, left:right]
    return result[:height, :width]


def _classes(probabilities: np.ndarray, threshold: float) -> np.ndarray:
    """(C, S, S) probabilities → classes: probabilities under the threshold do not count; none left is 0."""
    if probabilities.shape[0] == 1:  # one sigmoid map: its class where it reaches the threshold
        return ((probabilities[0] >= threshold) & (probabilities[0] > 0)).astype(np.uint8)
    kept = np.where(probabilities >= threshold, probabilities, 0.0)
    return kept.argmax(axis=0).astype(np.uint8)


def _starts(length: int, tile: int, stride: int) -> list:
    """Tile starts from 0 every ``stride`` until a tile reaches the end of the area."""
    count = 1 if length <= tile else math.ceil((length - tile) / stride) + 1
    return [k * stride for k in range(count)]
