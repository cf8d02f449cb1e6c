"""Sweeping work files: only ours, only of runs that are gone (of one output when asked, else the whole folder)."""
import os
import time

from low2high.core.work_files import UNLOCKED_STALE_SECONDS, held, sweep_stale, work_stem


def _touch(*paths: str) -> None:
    for path in paths:
        open(path, "w").close()


def test_live_groups_stay_and_dead_ones_go(folder):
    live = work_stem(folder, "out.tif", "partial")
    dead = os.path.join(folder, ".out.tif.0badc0de.partial")
    old = os.path.join(folder, ".out.tif.00000001.partial")  # written before groups had a lock file
    fresh = os.path.join(folder, ".out.tif.00000002.partial")
    _touch(dead + ".tif", dead + ".qml", dead + ".lock", old + ".tif", fresh + ".tif",
           os.path.join(folder, "out.tif"), os.path.join(folder, ".other.tif.0badc0de.partial.tif"))
    past = time.time() - UNLOCKED_STALE_SECONDS - 60
    os.utime(old + ".tif", (past, past))
    with held(live):
        _touch(live + ".tif")
        removed = sweep_stale(folder, "out.tif")
        assert sorted(map(os.path.basename, removed)) == [
            ".out.tif.00000001.partial.tif", ".out.tif.0badc0de.partial.lock", ".out.tif.0badc0de.partial.qml",
            ".out.tif.0badc0de.partial.tif"]
        assert os.path.exists(live + ".tif") and os.path.exists(live + ".lock") and os.path.exists(fresh + ".tif")
    assert not os.path.exists(live + ".lock")  # released and removed with the group's work
    assert os.path.exists(os.path.join(folder, ".other.tif.0badc0de.partial.tif"))


def test_a_run_killed_while_taking_its_lock_is_swept_once_the_lock_is_not_being_born(folder):
    """A kill between creating ``.lock-new`` and renaming it to ``.lock`` left the group behind (a flaky
    segment-many resume test saw ``.segment-many.json.<hex>.partial.lock-new`` survive the next job)."""
    from low2high.core.work_files import LOCK_BIRTH_SECONDS

    killed = os.path.join(folder, ".out.tif.0badc0de.partial")
    being_born = os.path.join(folder, ".out.tif.00000003.partial")
    _touch(killed + ".lock-new", killed + ".tif", being_born + ".lock-new")
    past = time.time() - LOCK_BIRTH_SECONDS - 5
    os.utime(killed + ".lock-new", (past, past))
    removed = sweep_stale(folder, "out.tif")
    assert sorted(map(os.path.basename, removed)) == [".out.tif.0badc0de.partial.lock-new",
                                                      ".out.tif.0badc0de.partial.tif"]
    assert os.path.exists(being_born + ".lock-new")
