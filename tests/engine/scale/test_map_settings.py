"""segment-many's settings reach segment as a single run's would, COLOUR_REFINEMENT included."""
import pytest

from low2high.core.errors import Low2HighError
from low2high.engine.scale.cli import build_parser
from low2high.engine.scale.engine import _check_settings
from low2high.engine.scale.jobs import MapSettings


def test_the_colour_refinement_reaches_segment_and_the_manifest():
    args = build_parser().parse_args(["--inputs", "a.tif", "--output-dir", "maps", "--colour-refinement", "off"])
    assert args.colour_refinement == "off"
    settings = MapSettings(colour_refinement=args.colour_refinement)
    assert settings.request("a.tif", "maps/a.tif").colour_refinement == "off"
    assert settings.shaping()["colour_refinement"] == "off"  # a folder mapped with another setting is refused
    assert MapSettings().request("a.tif", "maps/a.tif").colour_refinement == "auto"


def test_an_unknown_refinement_is_refused_once_with_segments_sentence():
    with pytest.raises(Low2HighError, match=r"COLOUR_REFINEMENT must be one of auto, on, off \(got 'maybe'\)"):
        _check_settings(MapSettings(colour_refinement="maybe"))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--inputs", "a.tif", "--output-dir", "maps", "--colour-refinement", "maybe"])
