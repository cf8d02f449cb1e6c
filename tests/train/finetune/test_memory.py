"""A large drawn area costs no more memory than the chip budget the log states (issue 18: 23.6 GB over 20 km)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import make_model

from low2high.train.benchmarks.large_scene import MARGIN, ORIGIN, make_large_scene

BUDGET_MB = 8
SLACK_MB = 96
"""What else may grow with the areas: GDAL's block cache (capped at 64 MB while Low2High works) and the allocator."""


def _square(size: float) -> str:
    xmin, ymax = ORIGIN[0] + MARGIN, ORIGIN[1] - MARGIN
    xmax, ymin = xmin + size, ymax - size
    return f"POLYGON(({xmin} {ymax},{xmax} {ymax},{xmax} {ymin},{xmin} {ymin},{xmin} {ymax}))"


@pytest.mark.slow
def test_an_8_km_polygon_stays_within_the_chip_budget(tmp_path):
    """8 × 8 km holds about 900 chips of 270 px (330 MB, and 2.6 GB more for float64 statistics before the budget)."""
    scene = make_large_scene(str(tmp_path / "scene"), 8000)
    model = make_model(str(tmp_path / "base.pt"), width=8)
    common = dict(image=scene.image, labels=scene.labels, model=model, steps=2, batch_size=2, eval_every=2,
                  normalisation="image", onnx=False, device="cpu", chip_memory_mb=BUDGET_MB)
    runs = {"small": {**common, "areas": [_square(600)], "output": str(tmp_path / "small.pt")},
            "large": {**common, "areas": [scene.polygon], "output": str(tmp_path / "large.pt")}}
    child = os.path.join(os.path.dirname(__file__), "memory_child.py")
    done = subprocess.run([sys.executable, child, json.dumps(runs)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    estimate = [line for line in report["large"]["log"] if line.startswith("Memory for chips")]
    assert estimate and f"budget {BUDGET_MB} MB" in estimate[0] and "over the budget" in estimate[0], estimate
    growth = report["large"]["peak_mb"] - report["small"]["peak_mb"]
    assert growth <= BUDGET_MB + SLACK_MB, (growth, report["small"]["peak_mb"], estimate[0])
