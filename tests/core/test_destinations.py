"""The one destination check: each refusal one sentence naming the parameter, nothing created."""
from __future__ import annotations

import os

import pytest
from read_only import make_read_only

from low2high.core.destinations import RASTER_EXTENSIONS, check_destination
from low2high.core.errors import Low2HighError


def refused(folder: str, *args, **kwargs) -> str:
    before = sorted(os.listdir(folder))
    with pytest.raises(Low2HighError) as raised:
        check_destination(*args, **kwargs)
    assert sorted(os.listdir(folder)) == before
    message = str(raised.value)
    assert message.count(". ") == 0 and message.endswith("."), message  # one sentence
    return message


def test_an_input_is_found_however_the_output_names_it(folder):
    source = os.path.join(folder, "labels.tif")
    open(source, "wb").close()
    os.symlink(folder, os.path.join(folder, "linked"))
    os.link(source, os.path.join(folder, "hard.tif"))
    os.makedirs(os.path.join(folder, "sub"))
    for alias in ("linked/labels.tif", "hard.tif", "sub/../labels.tif"):
        message = refused(folder, os.path.join(folder, alias), "OUTPUT_MAP", RASTER_EXTENSIONS,
                          inputs={"LOW_RES_LABELS": source})
        assert message.startswith("OUTPUT_MAP is the same file as an input, LOW_RES_LABELS"), message


def test_two_outputs_may_not_share_a_file_nor_differ_only_in_case(folder):
    first = check_destination(os.path.join(folder, "map.tif"), "OUTPUT", RASTER_EXTENSIONS)
    for other in ("map.tif", "MAP.tif"):
        message = refused(folder, os.path.join(folder, other), "OUTPUT_PROBABILITIES", RASTER_EXTENSIONS,
                          outputs={"OUTPUT": first})
        assert "OUTPUT_PROBABILITIES and OUTPUT name the same file" in message


def test_wrong_kind_folder_and_missing_folder_are_named(folder):
    assert "OUTPUT_MAP must be a GeoTIFF file (.tif or .tiff), not 'map.png'" in refused(
        folder, os.path.join(folder, "map.png"), "OUTPUT_MAP", RASTER_EXTENSIONS)
    assert "--output must be a .json file, not 'p.tif'" in refused(folder, os.path.join(folder, "p.tif"), "--output",
                                                                   (".json",))
    os.makedirs(os.path.join(folder, "plot.png"))
    assert "OUTPUT_PLOT" in refused(folder, os.path.join(folder, "plot.png"), "OUTPUT_PLOT", (".png",))
    assert "The folder of OUTPUT_HTML does not exist" in refused(folder, os.path.join(folder, "no", "r.html"),
                                                                 "OUTPUT_HTML", (".html",))
    assert "No OUTPUT_MODEL was given" in refused(folder, "", "OUTPUT_MODEL", (".pt",))
    assert check_destination("", "OUTPUT_MAP", RASTER_EXTENSIONS, required=False) is None


def test_an_unwritable_place_is_named(folder, monkeypatch):
    locked = make_read_only(monkeypatch, os.path.join(folder, "ro"))
    assert "The folder of OUTPUT_MODEL" in refused(folder, os.path.join(locked, "m.pt"), "OUTPUT_MODEL", (".pt",))
    assert "is not writable" in refused(folder, os.path.join(locked, "new", "m.json"), "--output", (".json",),
                                        create_folder=True)
