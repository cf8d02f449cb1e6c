"""The minimum mapping unit removes specks, keeps lines and patches at the unit, and never touches nodata."""
import numpy as np
import pytest
from helpers import make_raster, read

from low2high.core.errors import Cancelled, Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.labels.classes import NODATA
from low2high.engine.labels.mapping_unit import sieve_class_raster, unit_in_pixels

FOREST, WATER, IMPERVIOUS = 1, 0, 3


def class_map() -> np.ndarray:
    classes = np.full((60, 80), FOREST, np.uint8)
    classes[5:8, 5:8] = WATER  # a 9-pixel speck
    classes[20:30, 20:30] = IMPERVIOUS  # a 100-pixel roof
    for step in range(40):  # a 1-pixel diagonal road: 40 pixels, 8-connected only
        classes[10 + step // 2 + step % 2, 40 + step] = IMPERVIOUS
    classes[:, :3] = NODATA  # outside the area
    classes[50:52, 60:62] = NODATA  # a 4-pixel hole of nodata inside forest
    return classes


@pytest.fixture
def map_path(tmp_path):
    path = str(tmp_path / "classes.tif")
    make_raster(path, class_map()[None], nodata=NODATA)
    return path


def test_specks_under_the_unit_join_their_neighbour_and_the_rest_stays(map_path):
    before = class_map()
    sieve_class_raster(map_path, 20, SilentProgress())
    after = read(map_path)
    assert (after[5:8, 5:8] == FOREST).all()  # the speck is gone
    changed = after != before
    assert changed.sum() == 9  # and nothing else moved: the roof, the diagonal road, every nodata pixel
    assert (after[before == NODATA] == NODATA).all()


def test_a_unit_larger_than_a_patch_removes_it_and_0_or_1_changes_nothing(map_path):
    sieve_class_raster(map_path, 1, SilentProgress())
    assert (read(map_path) == class_map()).all()
    sieve_class_raster(map_path, 101, SilentProgress())
    after = read(map_path)
    assert (after[20:30, 20:30] == FOREST).all() and (after[5:8, 5:8] == FOREST).all()
    assert (after[class_map() == NODATA] == NODATA).all()


def test_the_unit_is_an_area_turned_into_pixels_rounding_up():
    one_metre, sixty_cm = 1.0, 0.6 * 0.6
    assert unit_in_pixels(400, one_metre) == 400
    assert unit_in_pixels(400, sixty_cm) == 1112  # 400 / 0.36 = 1111.1: no patch under 400 m² survives
    assert unit_in_pixels(0, one_metre) == 0
    with pytest.raises(Low2HighError, match="MIN_MAPPING_UNIT"):
        unit_in_pixels(-5, one_metre)


class CancelAtOnce(SilentProgress):
    def is_canceled(self) -> bool:
        return True


def test_cancelling_stops_the_sieve_with_cancelled(map_path):
    with pytest.raises(Cancelled):
        sieve_class_raster(map_path, 20, CancelAtOnce())


def test_a_map_in_memory_is_sieved_as_its_file_would_be(map_path):
    from low2high.engine.labels.mapping_unit import sieve_classes

    in_memory = sieve_classes(class_map(), 20)
    sieve_class_raster(map_path, 20, SilentProgress())
    assert (in_memory == read(map_path)).all()
    assert (sieve_classes(class_map(), 0) == class_map()).all()
