"""``make bench-many``: segment-many's throughput with 1 and 2 local workers against one-by-one segment calls.

``python -m low2high.benchmarks.segment_many_speed [--rasters 24] [--workers 1,2]`` copies the
sample image (1024 × 1024 px, 4 bands) into ``--rasters`` files and maps them, in one invocation:

- ``one by one``: ``segment`` called once per raster in this process (after one untimed call, so
  it pays no import or first load): what a loop over ``segment`` or QGIS's batch dialog gets;
- ``N workers``: a segment-many job on a LocalCluster of N worker processes (each with its share
  of the cores); the cluster's start is timed apart, the job is timed whole (planning, the pilot
  raster, the manifest after every raster, mosaic and summary).

Columns: Mpx/s and its ratio to one by one (the baseline is run before and after the jobs and
averaged, as the machine may be shared); CPU seconds per Mpx, all processes of the job together
(workers, and this process, which hosts the scheduler), which other users of a shared machine
disturb less than wall time; the median gap between a worker finishing one raster and starting its
next (Dask's scheduling per raster; the model is opened once per worker, at its start); the CPU time
spent on each raster itself (in a worker: its process's CPU time during the task), which leaves out a
job's fixed costs (worker start, imports, opening the model, the scheduler); the
peak resident memory of a worker. Every map is checked to be byte-identical to the one-by-one map.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import tempfile
import time
from typing import Any

import numpy as np

from ..core.resources import resource_path
from ..engine.inference.segment import segment
from ..engine.scale.cluster import job_client, threads_per_worker
from ..engine.scale.engine import JobRequest, segment_many
from ..engine.scale.jobs import DONE, MapSettings, Outcome
from .measure import machine, peak_rss_mb

SAMPLE = resource_path("sample", "naip_sample.tif")
#: A NAIP quarter quad, for the estimate of a state: ≈ 6,000 × 7,500 px.
QUARTER_QUAD_MPX = 45.0
SAMPLE_MPX = 1024 * 1024 / 1e6
COLUMNS = ("run", "workers × threads", "cluster start s", "job s", "Mpx/s", "× one by one", "CPU s per Mpx",
           "× one by one", "segment s per raster", "CPU s per raster", "gap between rasters s",
           "peak RSS per worker MB", "maps identical")


def one_by_one(paths: list[str], settings: MapSettings, folder: str) -> dict[str, Any]:
    """``segment`` once per raster in this process: wall and CPU seconds."""
    os.makedirs(folder, exist_ok=True)
    wall, cpu = time.perf_counter(), time.process_time()
    inside = sum(segment(settings.request(path, os.path.join(folder, os.path.basename(path)))).stats.seconds
                 for path in paths)
    cpu = time.process_time() - cpu
    return {"job_s": time.perf_counter() - wall, "cpu_s": cpu, "inside_s": inside, "raster_cpu_s": cpu}


def on_cluster(count: int, inputs: str, paths: list[str], settings: MapSettings, output: str,
               alone: str) -> dict[str, Any]:
    """A segment-many job on a fresh LocalCluster of ``count`` workers (see the module)."""
    tick = time.perf_counter()
    with job_client(workers=count, gpu=settings.device == "cuda") as client:
        client.wait_for_workers(count)
        start = time.perf_counter() - tick
        cpu_before = sum(client.run(time.process_time).values()) + time.process_time()
        tick = time.perf_counter()
        report = segment_many(JobRequest([inputs], output, settings), client=client)
        job = time.perf_counter() - tick
        cpu = sum(client.run(time.process_time).values()) + time.process_time() - cpu_before
        rss = max(client.run(peak_rss_mb).values())
    assert all(outcome.status == DONE for outcome in report.outcomes)
    names = [os.path.basename(path) for path in paths]
    same = all(filecmp.cmp(os.path.join(output, name), os.path.join(alone, name), shallow=False) for name in names)
    return {"row": f"{count} worker{'s' if count > 1 else ''}", "workers": count, "threads": threads_per_worker(count),
            "start_s": start, "job_s": job, "cpu_s": cpu, "gap_s": _median_gap(report.outcomes),
            "inside_s": sum(outcome.seconds for outcome in report.outcomes), "rss_mb": rss, "identical": same,
            "raster_cpu_s": sum(outcome.cpu_seconds for outcome in report.outcomes)}


def _median_gap(outcomes: list[Outcome]) -> float:
    """Median time a worker spent between finishing one raster and starting its next (Dask's share)."""
    gaps = []
    by_worker: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_worker.setdefault(outcome.worker, []).append(outcome)
    for done in by_worker.values():
        done.sort(key=lambda outcome: outcome.started)
        gaps += [later.started - earlier.finished for earlier, later in zip(done, done[1:])]
    return statistics.median(gaps) if gaps else 0.0


def tiled_sample(path: str, repeat: int) -> str:
    """The sample image repeated ``repeat`` × ``repeat`` times as one raster (a larger raster per task, so the
    per-raster costs weigh as they do on quarter quads rather than on 1-Mpx tiles)."""
    from osgeo import gdal

    source = gdal.Open(SAMPLE)
    pixels = np.tile(source.ReadAsArray(), (1, repeat, repeat))
    target = gdal.GetDriverByName("GTiff").Create(path, pixels.shape[2], pixels.shape[1], pixels.shape[0],
                                                  gdal.GDT_Byte, ["TILED=YES"])
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjection())
    for index in range(pixels.shape[0]):
        target.GetRasterBand(index + 1).WriteArray(pixels[index])
    target = None
    return path


def run(rasters: int, workers: list[int], precision: str, device: str, folder: str, repeat: int = 1
        ) -> list[dict[str, Any]]:
    inputs = os.path.join(folder, "naip")
    os.makedirs(inputs)
    image = SAMPLE if repeat == 1 else tiled_sample(os.path.join(folder, "tiled.tif"), repeat)
    paths = [shutil.copy(image, os.path.join(inputs, f"quad_{index:03d}.tif")) for index in range(rasters)]
    settings = MapSettings(precision=precision, device=device)
    segment(settings.request(paths[0], os.path.join(folder, "warm-up.tif")))  # imports, model, precision decision
    alone = os.path.join(folder, "alone")
    baselines = [one_by_one(paths, settings, alone)]
    rows = [on_cluster(count, inputs, paths, settings, os.path.join(folder, f"maps-{count}"), alone)
            for count in workers]
    baselines.append(one_by_one(paths, settings, os.path.join(folder, "alone-again")))  # the machine is shared
    base = {key: statistics.mean(run[key] for run in baselines)
            for key in ("job_s", "cpu_s", "inside_s", "raster_cpu_s")}
    base.update({"row": "one by one (mean of 2)", "workers": 1, "threads": os.cpu_count(), "start_s": 0.0,
                 "gap_s": 0.0, "rss_mb": peak_rss_mb()})
    for row in [base, *rows]:
        row["rate"] = rasters * SAMPLE_MPX * repeat ** 2 / row["job_s"]
        row["cpu_per_mpx"] = row["cpu_s"] / (rasters * SAMPLE_MPX * repeat ** 2)
    return [base, *rows]


def table(rows: list[dict[str, Any]], rasters: int, repeat: int = 1) -> str:
    base = rows[0]
    side = 1024 * repeat
    repeated = f" repeated {repeat} × {repeat}" if repeat > 1 else ""
    lines = [f"{rasters} rasters of {side} × {side} px (the sample image{repeated}), demo model",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [row["row"], f"{row['workers']} × {row['threads']}", f"{row['start_s']:.1f}", f"{row['job_s']:.1f}",
                 f"{row['rate']:.2f}", f"{row['rate'] / base['rate']:.2f}", f"{row['cpu_per_mpx']:.2f}",
                 f"{row['cpu_per_mpx'] / base['cpu_per_mpx']:.2f}", f"{row['inside_s'] / rasters:.2f}",
                 f"{row['raster_cpu_s'] / rasters:.2f}",
                 f"{row['gap_s']:.3f}", f"{row['rss_mb']:.0f}",
                 "yes" if row.get("identical", True) else "NO"]
        lines.append("| " + " | ".join(cells) + " |")
    per_core = rasters * SAMPLE_MPX * repeat ** 2 / base["cpu_s"]  # Mpx per CPU second, one by one
    hours = 1000 * QUARTER_QUAD_MPX / per_core / 3600
    lines.append(f"\nA 1,000-quarter-quad state (≈ {1000 * QUARTER_QUAD_MPX / 1e3:.0f} Gpx) at one by one's "
                 f"{per_core:.2f} Mpx per CPU second: ≈ {hours:.0f} core-hours, i.e. ≈ {hours / 2:.0f} h on N = 1 "
                 f"two-core worker machine, {hours / 2 / 10:.1f} h on 10.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasters", type=int, default=24)
    parser.add_argument("--workers", default="1,2", help="local worker counts to measure, comma-separated")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=1, help="each raster is the sample repeated N × N times")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory(prefix="low2high-bench-many-") as folder:
        rows = run(args.rasters, [int(count) for count in args.workers.split(",")], args.precision, args.device,
                   folder, args.repeat)
    print(table(rows, args.rasters, args.repeat))


if __name__ == "__main__":
    main()
