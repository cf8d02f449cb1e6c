"""Measure the peak memory of ``finetune`` over one large square polygon.

``python -m low2high.train.benchmarks.finetune_memory --side-km 5,20 [--steps 5] [--work DIR] [-- extra flags]``

Each side gets a cheaply made 1 m scene (:mod:`.large_scene`) and one run of ``python -m
low2high.train finetune`` in its own process; the process's peak resident set (``ru_maxrss`` from
``wait4``, the kernel's own high-water mark, so a short peak is not missed between samples) and its
wall time are printed with the run's chip-budget lines. NORMALISATION ``image`` is the default here
because it is the path that also measures statistics over the chips (the worst case).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from ...core.progress import ConsoleProgress, Countdown
from .large_scene import make_large_scene


@dataclass
class MemoryRun:
    """One measured run: its side, peak RSS in MB, seconds, exit status and its log's budget lines."""

    side_km: float
    peak_mb: float
    seconds: float
    returncode: int
    budget_lines: list[str]


def finetune_command(image: str, labels: str, areas_file: str, output: str, steps: int,
                     extra: list[str]) -> list[str]:
    """The CLI run measured: a few steps, no .onnx (its export is not what grows with the areas)."""
    return [sys.executable, "-m", "low2high.train", "finetune", "--image", image, "--labels", labels,
            "--areas-file", areas_file, "--output", output, "--steps", str(steps), "--onnx", "false",
            "--device", "cpu", *extra]


def peak_rss_of(command: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run ``command``; its peak RSS (MB, from ``wait4``), seconds, exit status and combined output."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        text = log.read()
    return usage.ru_maxrss / 1024, time.perf_counter() - started, process.returncode, text


def measure(side_km: float, work: str, steps: int, extra: list[str]) -> MemoryRun:
    """Make the scene of ``side_km`` and measure one run over its polygon."""
    folder = os.path.join(work, f"{side_km:g}km")
    scene = make_large_scene(folder, int(side_km * 1000))
    command = finetune_command(scene.image, scene.labels, scene.areas_file, os.path.join(folder, "tuned.pt"), steps,
                               extra)
    peak, seconds, code, text = peak_rss_of(command, dict(os.environ))
    lines = [line for line in text.splitlines() if "budget" in line.lower() or "chip(s)" in line]
    if code != 0:
        lines += text.splitlines()[-5:]
    return MemoryRun(side_km, peak, seconds, code, lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side-km", default="5", help="comma-separated polygon sides in km")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--work", default="", help="folder for the scenes (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="more finetune flags, after --")
    args = parser.parse_args(argv)
    extra = args.extra or ["--normalisation", "image"]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or scratch
        sides = [float(text) for text in args.side_km.split(",")]
        countdown = Countdown(ConsoleProgress(), len(sides), "polygon sizes", every_s=0)  # each run takes minutes
        for side in sides:
            run = measure(side, work, args.steps, extra)
            print(f"{run.side_km:g} km: peak RSS {run.peak_mb:,.0f} MB, {run.seconds:.0f} s, rc {run.returncode}")
            for line in run.budget_lines:
                print(f"    {line}")
            countdown.advance()
    return 0


if __name__ == "__main__":
    sys.exit(main())
