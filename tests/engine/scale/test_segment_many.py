"""segment-many on a real Dask cluster: identical maps, resuming, lost workers, refusals, bad inputs.

One LocalCluster of two worker processes (the job's own cluster code) serves the in-process jobs;
the command runs as a subprocess where a job must be killed or must fail before any work.
"""
from __future__ import annotations

import filecmp
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import REPO_ROOT, WITHOUT_DASK_PRELUDE, make_model, make_raster, read, scene
from osgeo import gdal

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.engine.inference.segment import SegmentRequest, segment
from low2high.engine.scale.cluster import job_client
from low2high.engine.scale.engine import JobRequest, segment_many
from low2high.engine.scale.jobs import BAD_INPUT, DONE, MapSettings
from low2high.engine.scale.manifest import MANIFEST_NAME

pytest.importorskip("distributed")

SIDE = 256


@pytest.fixture(scope="module")
def client():
    with job_client(workers=2) as dask_client:
        yield dask_client


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_model(str(tmp_path_factory.mktemp("model") / "tiny.pt"), tile_size=128, tile_overlap=16)


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    """Twelve small 4-band scenes, each a different landscape."""
    folder = tmp_path_factory.mktemp("naip")
    return [make_raster(str(folder / f"quad_{index:02d}.tif"), scene(SIDE, SIDE, seed=index)[0]) for index in range(12)]


@pytest.fixture(scope="module")
def references(tmp_path_factory, rasters, model):
    """What ``segment`` writes for each raster alone, with the same settings."""
    folder = tmp_path_factory.mktemp("alone")
    for path in rasters:
        segment(SegmentRequest(path, str(folder / os.path.basename(path)), model_path=model, precision="fp32"))
    return str(folder)


def settings(model: str, **changes) -> MapSettings:
    return MapSettings(model_path=model, precision="fp32", **changes)


def assert_same_as_alone(output_dir: str, references: str, names) -> None:
    for name in names:
        stem = os.path.splitext(name)[0]
        assert filecmp.cmp(os.path.join(output_dir, name), os.path.join(references, name), shallow=False), name
        for sidecar in (stem + ".qml", name + ".aux.xml"):  # the style, and GDAL's class names
            with open(os.path.join(output_dir, sidecar)) as mine, open(os.path.join(references, sidecar)) as alone:
                assert mine.read() == alone.read()
        dataset = gdal.Open(os.path.join(output_dir, name))  # held: a band outlives no dataset in GDAL's bindings
        assert dataset.GetRasterBand(1).GetColorTable() is not None


def work_files(folder: str) -> list[str]:
    return [name for name in os.listdir(folder) if ".partial" in name or ".scratch" in name]


def test_maps_equal_segment_alone_and_bad_inputs_are_summarised(client, rasters, references, model, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    three_bands = make_raster(str(inputs / "rgb.tif"), scene(64, 64, bands=3)[0])
    not_a_raster = inputs / "notes.tif"
    not_a_raster.write_text("not a raster")
    twin = inputs / os.path.basename(rasters[0])  # another quad_00
    twin.write_bytes(open(rasters[1], "rb").read())
    output = tmp_path / "maps"
    output.mkdir()
    (output / "readme.txt").write_text("mine")
    (output / "quad_05.tif").write_text("a user's file that happens to share a name")
    listed = tmp_path / "list.txt"
    listed.write_text("\n".join([*rasters[:6], str(tmp_path / "missing.tif"), three_bands, str(not_a_raster),
                                 str(twin)]) + "\n")

    report = segment_many(JobRequest([str(listed)], str(output), settings(model)), client=client)

    by_name = {os.path.basename(outcome.input_path) + ("*" if "inputs" in outcome.input_path else ""): outcome
               for outcome in report.outcomes}
    assert [by_name[f"quad_0{i}.tif"].status for i in range(5)] == [DONE] * 5
    assert_same_as_alone(str(output), references, [f"quad_0{i}.tif" for i in range(5)])
    refused = {name: outcome.message for name, outcome in by_name.items() if outcome.status == BAD_INPUT}
    assert set(refused) == {"quad_05.tif", "missing.tif", "rgb.tif*", "notes.tif*", "quad_00.tif*"}
    assert "did not write it" in refused["quad_05.tif"] and "does not exist" in refused["missing.tif"]
    assert "3" in refused["rgb.tif*"] and "GDAL" in refused["notes.tif*"] and "same name" in refused["quad_00.tif*"]
    assert (output / "readme.txt").read_text() == "mine"
    assert (output / "quad_05.tif").read_text().startswith("a user's file")
    summary = (output / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("input,map,status,pixels,seconds,water share,forest share")
    assert len(summary) == 1 + 10 and sum(",bad input," in line for line in summary) == 5
    mosaic = gdal.Open(str(output / "mosaic.vrt"))
    assert mosaic.GetRasterBand(1).GetColorTable() is not None and (output / "mosaic.qml").exists()
    assert np.array_equal(mosaic.ReadAsArray(), read(os.path.join(references, "quad_04.tif")))  # the last on top
    assert not work_files(str(output))

    with pytest.raises(Low2HighError, match="another model"):
        segment_many(JobRequest(rasters[:2], str(output), settings(make_model(str(tmp_path / "other.pt"), seed=1))),
                     client=client)
    with pytest.raises(Low2HighError, match=r"other settings \(tile_size default there, 64 now\)"):
        segment_many(JobRequest(rasters[:2], str(output), settings(model, tile_size=64)), client=client)


def test_a_killed_worker_loses_no_raster(client, rasters, references, model, tmp_path):
    """kill -9 one worker process after the first raster: Dask reruns its raster elsewhere."""
    pids = list(client.run(os.getpid).values())

    class KillAWorker(SilentProgress):
        def info(self, message: str) -> None:
            super().info(message)
            if message.startswith("1/"):
                os.kill(pids[0], signal.SIGKILL)

    output = str(tmp_path / "maps")
    report = segment_many(JobRequest(rasters, output, settings(model)), KillAWorker(), client=client)
    assert [outcome.status for outcome in report.outcomes] == [DONE] * len(rasters)
    assert_same_as_alone(output, references, [os.path.basename(path) for path in rasters])
    assert not work_files(output)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next test


def test_a_killed_job_resumes_with_only_the_rest_and_a_second_job_is_refused(client, rasters, references, model,
                                                                              tmp_path):
    output = str(tmp_path / "maps")
    command = [sys.executable, "-m", "low2high", "segment-many", "--inputs", *rasters, "--output-dir", output,
               "--model", model, "--precision", "fp32", "--workers", "1"]
    job = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        done = _wait_for_done(os.path.join(output, MANIFEST_NAME), at_least=1)
        with pytest.raises(Low2HighError, match="Another segment-many job is writing into"):
            segment_many(JobRequest(rasters, output, settings(model)), client=client)
        done = _wait_for_done(os.path.join(output, MANIFEST_NAME), at_least=4)
        os.killpg(job.pid, signal.SIGKILL)  # the command, its cluster and its workers, mid-job
        job.wait(timeout=30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    done = _done(os.path.join(output, MANIFEST_NAME))
    assert 4 <= len(done) < len(rasters), "the job must be killed midway"
    times = {stem: os.stat(os.path.join(output, stem + ".tif")).st_mtime_ns for stem in done}

    report = segment_many(JobRequest(rasters, output, settings(model)), client=client)
    assert (report.mapped_before, report.mapped_now) == (len(done), len(rasters) - len(done))
    assert all(os.stat(os.path.join(output, stem + ".tif")).st_mtime_ns == times[stem] for stem in done)
    assert_same_as_alone(output, references, [os.path.basename(path) for path in rasters])
    assert not work_files(output)


def _done(manifest: str) -> list[str]:
    import json

    try:
        with open(manifest) as stream:
            rasters = json.load(stream)["rasters"]
    except (OSError, ValueError):
        return []
    return [stem for stem, entry in rasters.items() if entry["status"] == DONE]


def _wait_for_done(manifest: str, at_least: int) -> list[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = _done(manifest)
        if len(done) >= at_least:
            return done
        time.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} rasters were done in 60 s")


def test_an_unreachable_scheduler_is_one_sentence_and_nothing_is_written(rasters, model, tmp_path, capsys,
                                                                          monkeypatch):
    from low2high.__main__ import main

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    output = tmp_path / "maps"
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "2s")
    status = main(["segment-many", "--inputs", rasters[0], "--output-dir", str(output), "--model", model,
                   "--scheduler", f"tcp://127.0.0.1:{port}"])
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Cannot reach the Dask scheduler at 'tcp://127.0.0.1:{port}'")
    assert not output.exists()


BLOCK_DASK = WITHOUT_DASK_PRELUDE + """from low2high.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_dask_the_command_names_the_package(rasters, tmp_path):
    completed = subprocess.run([sys.executable, "-c", BLOCK_DASK, "segment-many", "--inputs", rasters[0],
                                "--output-dir", str(tmp_path / "maps")], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 2
    assert "The Python package 'dask' is needed to segment many rasters" in completed.stderr
    assert "dask==" in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.parametrize("refinement", ["off", "on"])
def test_windows_are_fed_the_whole_rasters_statistics_and_colours(client, model, tmp_path, refinement):
    """INPUT_STATISTICS image over a raster whose right half is much brighter: windows measuring their own
    statistics (or fitting their own class colours) would each see the image differently; fed the whole
    raster's, they map what one run maps."""
    pixels = scene(200, 320, seed=8)[0].astype(float)
    pixels[:, :, 160:] = pixels[:, :, 160:] * 0.5 + 120  # another flight's gain and offset on the right half
    big = make_raster(str(tmp_path / "two_flights.tif"), np.clip(pixels, 0, 255).astype(np.uint8))
    options = dict(model_path=model, precision="fp32", input_statistics="image", colour_refinement=refinement)
    alone = read(segment(SegmentRequest(big, str(tmp_path / "alone.tif"), **options)).output_path)
    output = str(tmp_path / "maps")
    segment_many(JobRequest([big], output, settings(model, window=128, input_statistics="image",
                                                    colour_refinement=refinement)), client=client)
    windows = gdal.Open(os.path.join(output, "two_flights.vrt")).ReadAsArray()
    assert np.mean(windows == alone) >= 0.99, np.mean(windows == alone)
    left_window = read(segment(SegmentRequest(big, str(tmp_path / "own.tif"), extent=_extent(big, 0, 0, 128, 128),
                                              **options)).output_path)
    assert np.mean(left_window != alone[:128, :128]) > 0.01  # measuring its own would have drawn another map


def _extent(path: str, col: int, row: int, width: int, height: int) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a pixel window of ``path``."""
    x0, dx, _, y0, _, dy = gdal.Open(path).GetGeoTransform()
    return x0 + col * dx, y0 + (row + height) * dy, x0 + (col + width) * dx, y0 + row * dy


def test_one_large_raster_is_mapped_in_windows_across_workers(client, model, tmp_path):
    """A raster wider than the window: six window tasks, assembled as <stem>.vrt, nearly the map of one run."""
    big = make_raster(str(tmp_path / "mosaic_big.tif"), scene(200, 320, seed=7)[0])
    alone = segment(SegmentRequest(big, str(tmp_path / "alone.tif"), model_path=model, precision="fp32"))
    output = str(tmp_path / "maps")
    report = segment_many(JobRequest([big], output, settings(model, window=128)), client=client)
    (outcome,) = report.outcomes
    assert (outcome.status, outcome.output, outcome.pixels) == (DONE, "mosaic_big.vrt", 200 * 320)
    windows = sorted(os.listdir(os.path.join(output, "mosaic_big.windows")))
    assert len([name for name in windows if name.endswith(".tif")]) == 6
    assembled = gdal.Open(os.path.join(output, "mosaic_big.vrt"))
    assert assembled.GetGeoTransform() == gdal.Open(alone.output_path).GetGeoTransform()
    assert assembled.GetRasterBand(1).GetColorTable() is not None
    agreement = np.mean(assembled.ReadAsArray() == read(alone.output_path))
    assert agreement >= 0.99, agreement
    summary = open(os.path.join(output, "summary.csv")).read().splitlines()
    assert len(summary) == 2 and ",mosaic_big.vrt,done,64000," in summary[1]
    again = segment_many(JobRequest([big], output, settings(model, window=128)), client=client)
    assert (again.mapped_before, again.mapped_now) == (1, 0)
