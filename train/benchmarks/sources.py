"""Where the benchmarks find the shared data and the renderer (one definition for paper, real and appearances)."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

from osgeo import gdal

from ...core.errors import Low2HighError
from ...core.resources import PACKAGE_ROOT

SHARED = os.environ.get("LOW2HIGH_SHARED", os.path.join(os.path.dirname(PACKAGE_ROOT), "shared"))
LABELS = "data/chesapeake_pg_county/pg_county_north_lc.tif"
NLCD = "data/chesapeake_pg_county/pg_county_north_nlcd.tif"
RENDERER = "tools/render_scene.py"


def render(shared: str, labels: str, image: str, seed: int, shift: Optional[float] = None) -> None:
    """Render NAIP-like imagery from a 1 m label raster with the shared renderer, published only when complete.

    Raises:
        Low2HighError: the renderer failed (its last words are in the message).
    """
    partial = image + ".partial.tif"
    command = [sys.executable, os.path.join(shared, RENDERER), labels, partial, "--seed", str(seed)]
    if shift is not None:
        command += ["--flight-shift", str(shift)]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        raise Low2HighError(f"render_scene.py failed: {completed.stderr.strip()[-1000:]}")
    os.replace(partial, image)


def label_rows(shared: str, output: str, top: int, height: int) -> None:
    """The rows ``top … top + height`` of the shared 1 m labels as their own GeoTIFF (made once)."""
    if not os.path.exists(output):
        source = gdal.Open(os.path.join(shared, LABELS))
        gdal.Translate(output + ".partial.tif", source, srcWin=[0, top, source.RasterXSize, height])
        os.replace(output + ".partial.tif", output)
