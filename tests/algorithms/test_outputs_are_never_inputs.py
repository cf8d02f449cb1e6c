"""Through QGIS Processing too, no output is written onto an input named another way (issue 23, bug 1).

The engines' checks are tested one by one in tests/engine and tests/train; here the
algorithms as QGIS runs them: remap, whose OUTPUT reaches the check through QGIS's own handling of
destination parameters, and finetune, whose OUTPUT_MAP and OUTPUT_PLOT the algorithm checks itself
before the training (the engine would write them only after minutes of work).
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from aliases import ALIAS_KINDS, alias, assert_refused_and_unchanged
from finetune_helpers import make_tune_scene, polygon_layer
from helpers import make_raster

FAST = {"STEPS": 2, "BATCH_SIZE": 2, "DEVICE": "cpu", "VALIDATION_SHARE": 0.0}


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    return str(folder)


@pytest.mark.parametrize("kind", ALIAS_KINDS)
def test_remap_onto_its_input(low2high_provider, inputs, kind):
    import processing
    from qgis.core import QgsProcessingException

    source = make_raster(os.path.join(inputs, "nlcd.tif"), np.array([[11, 41], [82, 22]], np.uint8))
    message = assert_refused_and_unchanged(
        lambda: processing.run("low2high:remap", {"INPUT": source, "TAXONOMY": "nlcd", "OUTPUT": alias(source, kind)}),
        source, QgsProcessingException)
    assert "same file as an input" in message


@pytest.mark.parametrize("kind", ALIAS_KINDS)
@pytest.mark.parametrize("output, onto", [("OUTPUT_MAP", "LOW_RES_LABELS"), ("OUTPUT_MAP", "INPUT"),
                                          ("OUTPUT_PLOT", "LOW_RES_LABELS"), ("OUTPUT_MODEL", "MODEL")])
def test_finetune_onto_one_of_its_inputs_writes_nothing(low2high_provider, inputs, output, onto, kind):
    """Refused before the training: not even OUTPUT_MODEL (in the inputs' folder) is written."""
    import processing
    from qgis.core import QgsProcessingException

    scene = make_tune_scene(inputs)
    labels = scene["labels"]
    if output == "OUTPUT_PLOT":  # a raster of any name is an input; the plot is a .png
        labels = shutil.copy(labels, os.path.join(inputs, "nlcd.png"))
    parameters = {"INPUT": scene["image"], "LOW_RES_LABELS": labels, "AREAS": polygon_layer(scene["areas"]),
                  "MODEL": scene["model"], "OUTPUT_MODEL": os.path.join(inputs, "tuned.pt"), **FAST}
    target = parameters[onto]
    parameters[output] = alias(target, kind)
    message = assert_refused_and_unchanged(lambda: processing.run("low2high:finetune", parameters), target,
                                           QgsProcessingException)
    assert "would overwrite an input" in message
