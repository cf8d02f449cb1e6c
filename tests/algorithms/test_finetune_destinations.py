"""low2high:finetune checks all four outputs before the training, and publishes all of them or none (issue 18).

The model, its .onnx, OUTPUT_MAP and OUTPUT_PLOT were written one after the other after minutes of
training: a plot named like the base model replaced it with a PNG, a map named .png failed only
then (naming "OUTPUT"), after the new model had already replaced an existing one.
"""
from __future__ import annotations

import json
import os

import pytest
from aliases import snapshot
from finetune_helpers import make_tune_scene, polygon_layer
from helpers import make_raster, scene
from read_only import make_read_only

FAST = {"STEPS": 2, "BATCH_SIZE": 2, "DEVICE": "cpu", "VALIDATION_SHARE": 0.0}


@pytest.fixture
def tune(folder):
    """The tiny scene, an exemplar raster and a prior file as inputs, and a previous tuned.pt + tuned.onnx."""
    files = make_tune_scene(folder)
    _, classes = scene(64, 64, seed=5)
    files["exemplars"] = make_raster(os.path.join(folder, "exemplars.tif"), classes, nodata=255)
    files["prior"] = os.path.join(folder, "prior.json")
    with open(files["prior"], "w", encoding="utf-8") as handle:
        json.dump({"not": "read: the run is refused first"}, handle)
    for name in ("tuned.pt", "tuned.onnx"):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(b"the user's previous " + name.encode())
    return files


def _parameters(tune: dict, **outputs: str) -> dict:
    return {"INPUT": tune["image"], "LOW_RES_LABELS": tune["labels"], "AREAS": polygon_layer(tune["areas"]),
            "MODEL": tune["model"], "EXEMPLARS": tune["exemplars"], "PRIOR": tune["prior"],
            "OUTPUT_MODEL": os.path.join(tune["folder"], "tuned.pt"), **FAST, **outputs}


def _refused_before_training(monkeypatch, tune: dict, parameters: dict) -> str:
    import processing
    from qgis.core import QgsProcessingException

    def started(*args, **kwargs):
        raise AssertionError("the training started although an output was wrong")

    monkeypatch.setattr("low2high.train.finetune.task.finetune", started)
    before = snapshot(tune["folder"])
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("low2high:finetune", parameters)
    assert snapshot(tune["folder"]) == before  # every input, and the previous model and export, as they were
    message = str(raised.value)
    assert "Traceback" not in message and "started" not in message, message
    return message


@pytest.mark.parametrize("output, onto, words", [
    ("OUTPUT_PLOT", "MODEL", "OUTPUT_PLOT is the same file as an input, MODEL"),
    ("OUTPUT_PLOT", "OUTPUT_MODEL", "OUTPUT_PLOT and OUTPUT_MODEL name the same file"),
    ("OUTPUT_MAP", "EXEMPLARS", "OUTPUT_MAP is the same file as an input, EXEMPLARS"),
    ("OUTPUT_PLOT", "PRIOR", "OUTPUT_PLOT is the same file as an input, PRIOR"),
])
def test_an_output_on_an_input_or_another_output_is_refused_before_training(low2high_provider, tune, monkeypatch,
                                                                            output, onto, words):
    parameters = _parameters(tune)
    parameters[output] = parameters[onto]
    assert words in _refused_before_training(monkeypatch, tune, parameters)


@pytest.mark.parametrize("output, name, words", [
    ("OUTPUT_MAP", "map.png", "OUTPUT_MAP must be a GeoTIFF file"),
    ("OUTPUT_MAP", "map.pt", "OUTPUT_MAP must be a GeoTIFF file"),
    ("OUTPUT_PLOT", "curve.tif", "OUTPUT_PLOT must be a .png file"),
])
def test_an_output_of_the_wrong_kind_is_refused_before_training(low2high_provider, tune, monkeypatch, output, name,
                                                               words):
    parameters = _parameters(tune, **{output: os.path.join(tune["folder"], name)})
    assert words in _refused_before_training(monkeypatch, tune, parameters)


def test_output_model_in_a_read_only_folder_is_refused_before_training(low2high_provider, tune, monkeypatch):
    folder = make_read_only(monkeypatch, os.path.join(tune["folder"], "ro"))
    parameters = _parameters(tune, OUTPUT_MODEL=os.path.join(folder, "tuned.pt"))
    message = _refused_before_training(monkeypatch, tune, parameters)
    assert "The folder of OUTPUT_MODEL" in message and "is not writable" in message, message


def test_a_map_that_fails_after_training_publishes_nothing(low2high_provider, tune, monkeypatch):
    """The model and plot are complete when the map fails: none of them may appear, the previous model stays."""
    import processing
    from qgis.core import QgsProcessingException

    from low2high.core.errors import Low2HighError

    def failing_segment(request, progress=None):
        raise Low2HighError("OUTPUT_MAP cannot be made (a stand-in for any failure of the map).")

    monkeypatch.setattr("low2high.engine.inference.segment.segment", failing_segment)
    parameters = _parameters(tune, OUTPUT_MAP=os.path.join(tune["folder"], "map.tif"),
                             OUTPUT_PLOT=os.path.join(tune["folder"], "curve.png"))
    parameters.pop("EXEMPLARS")
    parameters.pop("PRIOR")
    before = snapshot(tune["folder"])
    with pytest.raises(QgsProcessingException, match="a stand-in for any failure of the map"):
        processing.run("low2high:finetune", parameters)
    assert snapshot(tune["folder"]) == before  # no new model, export, plot or map, and no work file left
