"""Deepness segmentation models: their ONNX metadata read into a Low2High model card.

The Deepness QGIS plugin (PUTvision) runs ONNX models described by a few metadata keys, each a
JSON value (its documentation, "Adding metadata to ONNX model" and "Model classes and
requirements"): ``model_type`` (Segmentor, Detector, Regressor, Superresolution, Recognition),
``class_names`` ({"0": name, ...}), ``resolution`` (centimetres per pixel), ``tile_size``,
``tiles_overlap`` (percent of the tile), ``standardization_mean`` / ``standardization_std``
(applied after ``pixel / 255``), ``seg_thresh`` and ``seg_small_segment``. A segmentation model
takes ``(batch, channels, size, size)`` uint8 imagery scaled to 0-1 and gives
``(batch, classes, size, size)``: softmax probabilities, or one sigmoid map for a single class.

So a Deepness model needs no Low2High description: this module turns those keys and the graph's
shapes into a :class:`~low2high.models.card.ModelCard` that ``segment`` runs like its own models,
with Deepness's rules where they decide the map:

* input: ``(pixel / 255 - mean) / std``, the card's own convention;
* threshold: pixels whose most probable class is below ``seg_thresh`` get class 0 (Deepness zeroes
  every probability under the threshold, then takes the most probable class, which is 0 when all
  are zero); one sigmoid map gives its class where it reaches the threshold, class 0 elsewhere;
* overlap: ``floor(tile * percent / 100)`` pixels;
* what the metadata leaves out gets Deepness's own defaults (class names ``class N``, mean 0 and
  std 1, threshold 0.5, overlap 15 %, tile 512 for a dynamic-size input), named in one sentence.

Not applied: ``seg_small_segment`` (Deepness's median filter of the finished map), said when set.
Nothing from the file is executed: values are parsed as JSON, or, for class names written as a
Python dict with integer keys (which Deepness also accepts), as a literal by :func:`ast.literal_eval`.
"""
from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ...models.card import CheckpointError, ModelCard
from ...models.config import INPUT_MULTIPLE
from ...models.onnx_card import METADATA_KEY

#: The keys Deepness reads (``names`` and ``tiles_size`` are spellings it or its documentation also use).
DEEPNESS_KEYS = ("model_type", "class_names", "names", "resolution", "tile_size", "tiles_size", "tiles_overlap",
                 "standardization_mean", "standardization_std", "seg_thresh", "seg_small_segment")
SEGMENTOR = "Segmentor"
#: Deepness's other model types, and what they give instead of a class per pixel.
OTHER_MODEL_TYPES = {
    "Detector": "an object detector (it draws boxes around objects)",
    "Regressor": "a regression model (it gives a value per pixel, not a class)",
    "Superresolution": "a super-resolution model (it gives a sharper image, not classes)",
    "Recognition": "an image recognition model (it matches whole images, not pixels)",
}
#: Deepness's defaults when the metadata is silent (its panel's values).
DEFAULT_THRESHOLD = 0.5
DEFAULT_OVERLAP_PERCENT = 15
DEFAULT_TILE_SIZE = 512
#: Class codes 0-254: 255 is nodata in every class raster.
MAX_CLASSES = 255


@dataclass(frozen=True)
class DeepnessModel:
    """What ``segment`` needs to run a Deepness segmentation model.

    Attributes:
        card: The model card built from the metadata (bands named ``channel 1`` ...).
        fixed_tile_size: The graph's input side when it is fixed (Deepness runs only that size).
        binary: The graph gives one sigmoid map; the card's two classes are "not it" and it.
        resolution_known: The metadata gives ``resolution``; without it no pixel size is checked.
        notes: Sentences for the log: what was missing and the defaults used, what is not applied.
    """

    card: ModelCard
    fixed_tile_size: Optional[int]
    binary: bool
    resolution_known: bool
    notes: tuple[str, ...]


def is_deepness_model(metadata: Mapping[str, str]) -> bool:
    """True for an ONNX model described by Deepness's keys and not by a Low2High description."""
    return METADATA_KEY not in metadata and any(key in metadata for key in DEEPNESS_KEYS)


def describe_deepness_session(session: Any, source: str) -> DeepnessModel:
    """The :class:`DeepnessModel` of an open ONNX Runtime session.

    Raises:
        CheckpointError: a model that is not for segmentation, a graph that does not give a class
            per pixel, or metadata that contradicts the graph; each a sentence naming the file.
    """
    metadata = session.get_modelmeta().custom_metadata_map
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise CheckpointError(f"{source} has {len(inputs)} inputs and {len(outputs)} outputs; a segmentation model "
                              "(as Deepness runs them too) has one image input and one output")
    _check_model_type(metadata, source)
    missing: list[str] = []
    notes: list[str] = []
    bands, size = _input_shape(list(inputs[0].shape or ()), source)
    classes = _output_classes(list(outputs[0].shape or ()), size, source)
    names = _class_names(metadata, classes, source, missing)
    binary = classes == 1
    if binary:
        names = names if len(names) == 2 else ["background" if names[0] != "background" else "other", names[0]]
    tile = _tile_size(metadata, size, source, missing, notes)
    overlap = _overlap(metadata, tile, source, missing, notes)
    mean, std = _standardisation(metadata, bands, source, missing)
    threshold = _threshold(metadata, source, missing)
    resolution = _number(metadata, "resolution", source)
    if resolution is None:
        missing.append("resolution (the raster is used at its own pixel size, unchecked)")
    elif resolution <= 0:
        raise CheckpointError(f"{source}: its Deepness resolution must be more than 0 cm per pixel, got {resolution:g}")
    smoothing = _number(metadata, "seg_small_segment", source)
    if smoothing is not None and smoothing > 1:
        notes.append(f"Its seg_small_segment ({smoothing:g} px, Deepness's median filter of the finished map) is not "
                     "applied: the map keeps every pixel's own class.")
    if missing:
        notes.insert(0, f"{source.rsplit('/', 1)[-1]} has partial Deepness metadata; missing, with the default used: "
                        + "; ".join(missing) + ".")
    try:
        card = ModelCard(class_names=names, taxonomy="deepness",
                         band_names=[f"channel {i + 1}" for i in range(bands)], mean=mean, std=std,
                         gsd=resolution / 100 if resolution else 1.0, tile_size=tile, tile_overlap=overlap,
                         description=f"Deepness {SEGMENTOR} model", probability_threshold=threshold)
    except CheckpointError as error:
        raise CheckpointError(f"{source}: its Deepness metadata cannot describe a model: {error}") from None
    return DeepnessModel(card, size, binary, resolution is not None, tuple(notes))


def _value(metadata: Mapping[str, str], key: str, source: str) -> Any:
    """A metadata value as Deepness reads it: JSON text (None when the key is absent)."""
    if key not in metadata:
        return None
    try:
        return json.loads(metadata[key])
    except ValueError:
        raise CheckpointError(f"{source}: its Deepness metadata '{key}' is not valid JSON "
                              f"({metadata[key][:60]!r})") from None


def _number(metadata: Mapping[str, str], key: str, source: str) -> Optional[float]:
    value = _value(metadata, key, source)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CheckpointError(f"{source}: its Deepness metadata '{key}' must be a number, got {value!r}")
    return float(value)


def _check_model_type(metadata: Mapping[str, str], source: str) -> None:
    """Refuse detectors, regressors and the other kinds ``segment`` cannot map (Deepness capitalises the name)."""
    value = _value(metadata, "model_type", source)
    if value is None or str(value).capitalize() == SEGMENTOR:
        return
    kind = str(value).capitalize()
    what = OTHER_MODEL_TYPES.get(kind, "a kind of model Deepness itself does not list")
    raise CheckpointError(f"{source} is {what} (Deepness model_type '{value}'); low2high:segment runs segmentation "
                          "models only (model_type Segmentor), which give a class per pixel: use this one in Deepness")


def _input_shape(shape: Sequence[Any], source: str) -> tuple[int, Optional[int]]:
    """(bands, fixed square side or None) of the graph's input."""
    if len(shape) != 4:
        raise CheckpointError(f"{source} takes an input of shape {shape}, not (batch, channels, height, width) "
                              "image tiles")
    bands, height, width = (_fixed(shape[axis]) for axis in (1, 2, 3))
    if bands is None:
        raise CheckpointError(f"{source}: its input does not say how many bands it takes (shape {shape})")
    if (height is None) != (width is None) or (height is not None and height != width):
        raise CheckpointError(f"{source} takes {shape[2]} × {shape[3]} tiles; Deepness models take square tiles")
    if height is not None and height % INPUT_MULTIPLE:
        raise CheckpointError(f"{source} takes {height}-pixel tiles; Low2High tiles rasters in multiples of "
                              f"{INPUT_MULTIPLE} pixels, so it cannot run this model")
    return bands, height


def _output_classes(shape: Sequence[Any], size: Optional[int], source: str) -> Optional[int]:
    """The number of output maps (None when the graph leaves it open); refuses outputs without a class per pixel."""
    if len(shape) != 4:
        raise CheckpointError(f"{source} gives an output of shape {shape}, not a class score per pixel (batch, "
                              "classes, height, width): it classifies or describes whole tiles, so it cannot draw "
                              "a map")
    height, width = _fixed(shape[2]), _fixed(shape[3])
    if size is not None and (height, width) != (size, size) and (height is not None or width is not None):
        raise CheckpointError(f"{source} gives {shape[2]} × {shape[3]} outputs for {size} × {size} input tiles; "
                              "low2high:segment needs one class score per input pixel")
    return _fixed(shape[1])


def _class_names(metadata: Mapping[str, str], classes: Optional[int], source: str, missing: list[str]) -> list[str]:
    """Class names in code order, from ``class_names`` (or ``names``), or ``class N`` for each output map."""
    key = "class_names" if "class_names" in metadata else "names" if "names" in metadata else None
    if key is None:
        if classes is None:
            raise CheckpointError(f"{source} has no Deepness class_names and its output does not say how many "
                                  "classes it gives, so its classes are unknown")
        count = 2 if classes == 1 else classes
        missing.append(f"class_names (named class 0 … class {count - 1})")
        return [f"class {i}" for i in range(count)]
    text = metadata[key]
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)  # {0: 'a'}: Deepness accepts Python's dict notation too
        except (ValueError, SyntaxError):
            raise CheckpointError(f"{source}: its Deepness '{key}' is neither JSON nor a dict "
                                  f"({text[:60]!r})") from None
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # one output head, written as [{...}]
    if isinstance(value, list) and value and all(isinstance(head, Mapping) for head in value):
        raise CheckpointError(f"{source} describes {len(value)} output heads; low2high:segment runs models with one "
                              "output")
    if not isinstance(value, Mapping) or not value:
        raise CheckpointError(f"{source}: its Deepness '{key}' must map class numbers to names, got {text[:60]!r}")
    try:
        numbered = sorted((int(code), str(name)) for code, name in value.items())
    except (TypeError, ValueError):
        raise CheckpointError(f"{source}: its Deepness '{key}' must map class numbers to names, got {text[:60]!r}") \
            from None
    if [code for code, _ in numbered] != list(range(len(numbered))):
        raise CheckpointError(f"{source}: its Deepness '{key}' numbers the classes {[c for c, _ in numbered]}, not "
                              "0, 1, 2 … without gaps")
    names = [name for _, name in numbered]
    expected = {1: (1, 2)}.get(classes or 0, (classes,))
    if classes is not None and len(names) not in expected:
        raise CheckpointError(f"{source}: its Deepness '{key}' names {len(names)} classes ({', '.join(names)}) but "
                              f"its network gives {classes}")
    if len(names) > MAX_CLASSES:
        raise CheckpointError(f"{source} has {len(names)} classes; a class raster holds at most {MAX_CLASSES}")
    return names


def _tile_size(metadata: Mapping[str, str], size: Optional[int], source: str, missing: list[str],
               notes: list[str]) -> int:
    """The graph's fixed side; else ``tile_size`` (or ``tiles_size``); else Deepness's 512."""
    key = "tile_size" if "tile_size" in metadata else "tiles_size"
    stated = _number(metadata, key, source)
    if size is not None:
        if stated is not None and stated != size:
            notes.append(f"Its metadata says tile_size {stated:g} but its network takes {size}-pixel tiles; "
                         f"{size} is used, as Deepness does.")
        return size
    if stated is None:
        missing.append(f"tile_size ({DEFAULT_TILE_SIZE} px)")
        return DEFAULT_TILE_SIZE
    if stated != int(stated) or stated < INPUT_MULTIPLE or stated % INPUT_MULTIPLE:
        raise CheckpointError(f"{source}: its Deepness tile_size {stated:g} is not a multiple of {INPUT_MULTIPLE} "
                              "pixels, which Low2High tiles need")
    return int(stated)


def _overlap(metadata: Mapping[str, str], tile: int, source: str, missing: list[str], notes: list[str]) -> int:
    """Overlap in pixels: Deepness's ``floor(tile * percent / 100)``, at most half the tile."""
    percent = _number(metadata, "tiles_overlap", source)
    if percent is None:
        missing.append(f"tiles_overlap ({DEFAULT_OVERLAP_PERCENT} %)")
        percent = DEFAULT_OVERLAP_PERCENT
    if percent < 0:
        raise CheckpointError(f"{source}: its Deepness tiles_overlap must be 0 or more percent, got {percent:g}")
    pixels = math.floor(tile * int(percent) / 100)
    if 2 * pixels > tile:
        notes.append(f"Its tiles_overlap of {int(percent)} % is more than half a tile; {tile // 2} px is used.")
        pixels = tile // 2
    return pixels


def _standardisation(metadata: Mapping[str, str], bands: int, source: str,
                     missing: list[str]) -> tuple[list[float], list[float]]:
    """Per-band mean and std after ``pixel / 255`` (one value stands for every band, as numpy broadcasts it)."""
    values = []
    for key, default in (("standardization_mean", 0.0), ("standardization_std", 1.0)):
        value = _value(metadata, key, source)
        if value is None:
            missing.append(f"{key} ({default:g} for every band)")
            value = [default]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or len(value) not in (1, bands):
            raise CheckpointError(f"{source}: its Deepness {key} must list 1 or {bands} numbers (one per band), got "
                                  f"{value!r}")
        values.append(value * bands if len(value) == 1 else value)
    return values[0], values[1]


def _threshold(metadata: Mapping[str, str], source: str, missing: list[str]) -> float:
    value = _number(metadata, "seg_thresh", source)
    if value is None:
        missing.append(f"seg_thresh ({DEFAULT_THRESHOLD:g}, Deepness's default: pixels whose most probable class is "
                       "less probable get class 0)")
        return DEFAULT_THRESHOLD
    if not 0 <= value <= 1:
        raise CheckpointError(f"{source}: its Deepness seg_thresh must be from 0 to 1, got {value:g}")
    return value


def _fixed(dimension: Any) -> Optional[int]:
    """A graph dimension's fixed size, or None when it is dynamic (a name, None or 0)."""
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
        return None
    return dimension
