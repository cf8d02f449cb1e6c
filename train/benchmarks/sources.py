"""Where the benchmarks find the shared data and the renderer (one definition for paper, real and appearances)."""
from __future__ import annotations

import os

from ...low2high_plugin.resources import PACKAGE_ROOT

SHARED = os.environ.get("LOW2HIGH_SHARED", os.path.join(os.path.dirname(PACKAGE_ROOT), "shared"))
LABELS = "data/chesapeake_pg_county/pg_county_north_lc.tif"
NLCD = "data/chesapeake_pg_county/pg_county_north_nlcd.tif"
RENDERER = "tools/render_scene.py"
