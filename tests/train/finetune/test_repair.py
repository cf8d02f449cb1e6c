"""A self-intersecting (bow-tie) AREAS polygon is repaired with a log line, not refused as having no area."""
from helpers import UTM18N
from osgeo import osr

from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Grid
from low2high.train.finetune.areas import read_areas
from low2high.train.finetune.repair import repair_polygons

BOW_TIE = "POLYGON ((500000 4000000,500010 3999990,500010 4000000,500000 3999990,500000 4000000))"
SQUARE = "POLYGON ((500000 4000000,500004 4000000,500004 3999996,500000 3999996,500000 4000000))"


def _grid() -> Grid:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(UTM18N)
    return Grid((500000.0, 1.0, 0.0, 4000000.0, 0.0, -1.0), 20, 20, srs.ExportToWkt())


def test_a_bow_tie_becomes_its_two_lobes_and_the_log_says_so():
    log = SilentProgress()
    repaired = repair_polygons([SQUARE, BOW_TIE, "POINT (500001 3999999)"], log)
    assert repaired[0] == SQUARE and repaired[2] == "POINT (500001 3999999)"  # valid ones and non-polygons untouched
    assert repaired[1].startswith("MULTIPOLYGON")
    assert log.messages == ["AREAS polygon(s) 2 (area 0 → 50) were not valid (e.g. a bow-tie crossing itself) and "
                            "were repaired with make valid (a bow-tie becomes its two lobes); check that they enclose "
                            "what you meant."]
    areas = read_areas(repaired[1:2], "", _grid())  # it was "AREAS holds no polygon with an area"
    assert areas.area == 50


def test_valid_polygons_leave_no_log_line():
    log = SilentProgress()
    assert repair_polygons([SQUARE], log) == [SQUARE] and log.messages == []
