"""SIGTERM / SIGHUP during segment cancel like Ctrl-C; files a killed run left are swept by the next run."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO_ROOT, make_raster, scene

from low2high.engine.inference.segment import SegmentRequest, segment

#: The engine in a child process with a progress that takes its time, so a signal surely lands mid-run.
CHILD = textwrap.dedent("""
    import sys, time
    from low2high.engine.inference.segment import SegmentRequest, segment
    from low2high.core.progress import SilentProgress

    class Slow(SilentProgress):
        def set_fraction(self, fraction):
            print("working", flush=True)
            time.sleep(0.5)

    segment(SegmentRequest(sys.argv[1], sys.argv[2], model_path=sys.argv[3], tile_size=64, overlap=0), Slow())
""")


@pytest.fixture
def image(folder):
    return make_raster(os.path.join(folder, "image.tif"), scene(256, 256)[0])


def _start(image: str, output: str, model: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", CHILD, image, output, model], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    assert child.stdout.readline().strip() == "working"  # a tile is done: the hidden output exists
    assert any(name.endswith(".partial.tif") for name in os.listdir(os.path.dirname(output)))
    return child


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_cancels_and_leaves_nothing(image, folder, tiny_models, signum):
    output = os.path.join(folder, "map.tif")
    child = _start(image, output, tiny_models[1])
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1
    assert f"Cancelled: Stopped by {signal.Signals(signum).name} (the process was asked to end): segment wrote no " \
           "output" in err
    assert sorted(os.listdir(folder)) == ["image.tif"]


def test_a_killed_runs_files_are_swept_by_the_next_run_only(image, folder, tiny_models):
    output = os.path.join(folder, "map.tif")
    child = _start(image, output, tiny_models[1])
    child.kill()  # SIGKILL: no clean-up can run
    child.communicate(timeout=60)
    left = [name for name in os.listdir(folder) if name.startswith(".map.tif.")]
    assert any(name.endswith(".partial.tif") for name in left) and any(name.endswith(".lock") for name in left)
    other = os.path.join(folder, ".other.tif.0123abcd.partial.tif")  # another output's: not ours to touch
    notes = os.path.join(folder, ".map.tif.notes")  # a name of ours but not our pattern
    for path in (other, notes):
        open(path, "w").close()
    segment(SegmentRequest(image, output, model_path=tiny_models[1], tile_size=64, overlap=0))
    assert sorted(os.listdir(folder)) == sorted([".map.tif.notes", ".other.tif.0123abcd.partial.tif", "image.tif",
                                                 "map.qml", "map.tif", "map.tif.aux.xml"])


def test_segment_puts_the_previous_handlers_back(image, folder, tiny_models):
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        segment(SegmentRequest(image, os.path.join(folder, "map.tif"), model_path=tiny_models[1]))
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
