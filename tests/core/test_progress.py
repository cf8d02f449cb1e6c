"""The duration wording and ETA shared by segment's and finetune's progress lines."""
from low2high.core.progress import format_duration, time_left


def test_durations_read_as_a_person_writes_them():
    assert format_duration(0.4) == "0 s"
    assert format_duration(42) == "42 s"
    assert format_duration(99) == "1 min 39 s"
    assert format_duration(3599.6) == "1 h 00 min"
    assert format_duration(7500) == "2 h 05 min"
    assert format_duration(-3) == "0 s"  # a clock step backwards never prints a negative time


def test_time_left_extrapolates_the_rate_so_far_and_says_nothing_without_one():
    assert time_left(10, 200, 5.2) == "about 1 min 39 s left"  # 0.52 s/step, 190 steps to go
    assert time_left(0, 200, 5.0) == ""
    assert time_left(200, 200, 104.0) == ""


def test_segment_logs_tiles_done_and_time_left_on_long_runs(folder, tiny_models, monkeypatch):
    import os

    from helpers import make_raster, scene

    from low2high.core import progress as progress_module
    from low2high.core.progress import SilentProgress
    from low2high.engine.inference.segment import SegmentRequest, segment

    monkeypatch.setattr(progress_module, "ETA_EVERY_S", 0.0)  # every batch counts as "long" here
    image = make_raster(os.path.join(folder, "image.tif"), scene(512, 512)[0])
    progress = SilentProgress()
    segment(SegmentRequest(image, os.path.join(folder, "map.tif"), model_path=tiny_models[1], tile_size=128,
                           overlap=32, batch_size=1), progress)
    lines = [m for m in progress.messages if " tiles, about " in m and m.endswith(" left.")]
    assert lines, progress.messages


def test_a_countdown_logs_items_done_and_the_time_left_at_its_interval_and_none_at_the_end(monkeypatch):
    from low2high.core import progress as progress_module
    from low2high.core.progress import Countdown, SilentProgress

    log = SilentProgress()
    every = Countdown(log, 3, "training runs", every_s=0)
    for _ in range(3):
        every.advance()
    assert len(log.messages) == 2 and log.messages[0].startswith("1/3 training runs, about ")
    assert log.messages[1].startswith("2/3 training runs") and log.messages[1].endswith(" left.")
    quiet = SilentProgress()
    monkeypatch.setattr(progress_module, "ETA_EVERY_S", 3600.0)  # the default interval: a short loop logs nothing
    countdown = Countdown(quiet, 1000, "chips")
    countdown.advance(999)
    assert quiet.messages == []
