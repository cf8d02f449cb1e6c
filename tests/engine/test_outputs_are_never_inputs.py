"""No engine writes an output onto one of its inputs, however the user names the input (issue 23, bug 1).

Every output of segment, remap, evaluate, alignlabels and aggregatelabels is given as one of its
inputs reached another way (a linked folder, a hard link, a ``..`` path): the run must be refused
before it writes, and the input's folder must be left byte for byte as it was. A check that compares
path strings alone passes the tests that give the input's own path, and fails these.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import pytest
from aliases import ALIAS_KINDS, alias, refused_case
from helpers import make_model, make_raster, scene

from low2high.core.errors import Low2HighError
from low2high.engine.evaluation.evaluate import EvaluateRequest, evaluate
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.labels.alignment import AggregateRequest, AlignRequest, aggregate_labels, align_labels
from low2high.engine.labels.remap import RemapRequest, remap

#: (input file the output names, the run) of one engine, given the folder of its inputs and the alias kind.
Case = Callable[[str, str], tuple[str, Callable[[], object]]]


def _classes(folder: str, name: str, pixel_size: float = 1.0) -> str:
    """A small merged-class raster (a class raster every engine reads)."""
    _, classes = scene(32, 32, seed=1)
    return make_raster(os.path.join(folder, name), classes, pixel_size=pixel_size, nodata=255)


def _nlcd(folder: str, name: str = "nlcd.tif") -> str:
    """NLCD codes on a 4 m grid over the 32 px image of :func:`_image`."""
    return make_raster(os.path.join(folder, name), np.array([[11, 41] * 4, [82, 22] * 4] * 4, np.uint8),
                       pixel_size=4.0)


def _image(folder: str) -> str:
    pixels, _ = scene(32, 32, seed=2)
    return make_raster(os.path.join(folder, "image.tif"), pixels)


def remap_input(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    source = _nlcd(folder)
    return source, lambda: remap(RemapRequest(source, alias(source, kind), "nlcd"))


def align_labels_onto_labels(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    labels, image = _nlcd(folder), _image(folder)
    return labels, lambda: align_labels(AlignRequest(labels, image, alias(labels, kind)))


def align_labels_onto_image(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    labels, image = _nlcd(folder), _image(folder)
    return image, lambda: align_labels(AlignRequest(labels, image, alias(image, kind)))


def aggregate_onto_input(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    fine = _classes(folder, "fine.tif")
    return fine, lambda: aggregate_labels(AggregateRequest(fine, alias(fine, kind), factor=4))


def aggregate_onto_coarse(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    fine, coarse = _classes(folder, "fine.tif"), _nlcd(folder, "coarse.tif")
    return coarse, lambda: aggregate_labels(AggregateRequest(fine, alias(coarse, kind), coarse_path=coarse))


def evaluate_table_onto_reference(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    # a GeoTIFF named .csv: GDAL opens rasters by their content, so any name can be an input
    prediction, reference = _classes(folder, "prediction.tif"), _classes(folder, "reference.csv")
    return reference, lambda: evaluate(EvaluateRequest(prediction, reference, table_path=alias(reference, kind)))


def evaluate_html_onto_prediction(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    prediction, reference = _classes(folder, "prediction.html"), _classes(folder, "reference.tif")
    return prediction, lambda: evaluate(EvaluateRequest(prediction, reference, html_path=alias(prediction, kind)))


def segment_onto_input(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    image, model = _image(folder), make_model(os.path.join(folder, "model.pt"), tile_size=32, tile_overlap=8)
    return image, lambda: segment(SegmentRequest(image, alias(image, kind), model, device="cpu"))


def segment_probabilities_onto_input(folder: str, kind: str) -> tuple[str, Callable[[], object]]:
    image, model = _image(folder), make_model(os.path.join(folder, "model.pt"), tile_size=32, tile_overlap=8)
    output = os.path.join(os.path.dirname(folder), "map.tif")
    return image, lambda: segment(SegmentRequest(image, output, model, device="cpu",
                                                 probabilities_path=alias(image, kind)))


CASES: dict[str, Case] = {case.__name__: case for case in (
    remap_input, align_labels_onto_labels, align_labels_onto_image, aggregate_onto_input, aggregate_onto_coarse,
    evaluate_table_onto_reference, evaluate_html_onto_prediction, segment_onto_input,
    segment_probabilities_onto_input)}


@pytest.mark.parametrize("kind", ALIAS_KINDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_naming_an_input_another_way_is_refused_and_the_input_kept(case, kind, tmp_path):
    message = refused_case(CASES, case, kind, str(tmp_path / "inputs"), Low2HighError)
    assert "input" in message, message
    assert not os.path.exists(os.path.join(str(tmp_path), "map.tif"))  # nor the other output of the run
