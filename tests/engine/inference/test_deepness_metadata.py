"""Reading Deepness metadata into a card: the spellings Deepness accepts, and metadata that cannot be right."""
import os

import numpy as np
import pytest
from deepness_models import METADATA, deepness_model

from low2high.core.errors import Low2HighError
from low2high.engine.inference.decision import class_map
from low2high.engine.inference.model import open_model
from low2high.engine.labels.classes import class_colours

pytest.importorskip("onnx")


def info_of(folder, **changes):
    metadata = {**METADATA, **changes}
    return open_model(deepness_model(os.path.join(folder, "m.onnx"), metadata=metadata)).info


def test_class_names_as_a_python_dict_or_under_names(folder):
    path = deepness_model(os.path.join(folder, "m.onnx"), metadata={"model_type": "Segmentor"})
    import onnx

    model = onnx.load(path)
    model.metadata_props.add(key="names", value="{0: 'a', 1: 'b', 2: 'c', 3: 'd'}")  # not JSON: a Python literal
    onnx.save(model, path)
    assert open_model(path).info.class_names == ("a", "b", "c", "d")


def test_class_names_in_a_one_element_list_and_tiles_size_spelling(folder):
    info = info_of(folder, class_names=[{"0": "a", "1": "b", "2": "c", "3": "d"}], tiles_size=256)
    assert info.class_names == ("a", "b", "c", "d")


@pytest.mark.parametrize("changes, words", [
    ({"class_names": {"0": "a", "2": "b", "3": "c", "4": "d"}}, "without gaps"),
    ({"class_names": {"0": "a", "1": "b"}}, "names 2 classes (a, b) but its network gives 4"),
    ({"class_names": [{"0": "a"}, {"0": "b"}]}, "2 output heads"),
    ({"standardization_mean": [0.1, 0.2]}, "1 or 3 numbers"),
    ({"standardization_std": [0.0, 1.0, 1.0]}, "std must be greater than 0"),
    ({"seg_thresh": 1.5}, "seg_thresh must be from 0 to 1"),
    ({"resolution": "fine"}, "'resolution' must be a number"),
    ({"model_type": "Classifier"}, "a kind of model Deepness itself does not list"),
])
def test_metadata_that_cannot_be_right(folder, changes, words):
    with pytest.raises(Low2HighError) as caught:
        info_of(folder, **changes)
    assert words in str(caught.value)


def test_a_value_that_is_not_json(folder):
    path = deepness_model(os.path.join(folder, "m.onnx"))
    import onnx

    model = onnx.load(path)
    model.metadata_props.add(key="seg_small_segment", value="seven")
    onnx.save(model, path)
    with pytest.raises(Low2HighError, match="'seg_small_segment' is not valid JSON"):
        open_model(path)


def test_what_is_not_applied_is_said(folder):
    info = info_of(folder, seg_small_segment=7, tiles_overlap=70, tile_size=512)
    said = " ".join(info.notes)
    assert "seg_small_segment (7 px" in said and "not applied" in said
    assert "more than half a tile; 128 px is used" in said and info.tile_overlap == 128
    assert "tile_size 512 but its network takes 256-pixel tiles; 256 is used" in said


def test_the_threshold_rule():
    probabilities = np.array([[[0.5, 0.2, 0.1]], [[0.3, 0.45, 0.1]], [[0.2, 0.35, 0.8]]], np.float32)  # (3, 1, 3)
    assert class_map(probabilities).tolist() == [[0, 1, 2]]
    assert class_map(probabilities, 0.4).tolist() == [[0, 1, 2]]
    assert class_map(probabilities, 0.5).tolist() == [[0, 0, 2]]  # the top class must reach it
    binary = np.array([[[0.7, 0.4, 1.0]], [[0.3, 0.6, 0.0]]], np.float32)
    assert class_map(binary, 0.25, binary=True).tolist() == [[1, 1, 0]]  # class 1 from 0.25 on, as Deepness


def test_many_classes_get_distinct_colours():
    colours = class_colours([f"class {index}" for index in range(60)])
    assert len(set(colours)) == 60
    assert class_colours(["water", "forest"])[:2] == [(38, 115, 222), (27, 120, 55)]
