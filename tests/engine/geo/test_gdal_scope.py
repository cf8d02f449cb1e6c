"""GDAL's process-wide state: untouched by imports, restored after runs, right under overlapping runs."""
from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
from helpers import make_raster
from osgeo import gdal, ogr, osr

from low2high.core.errors import Low2HighError
from low2high.engine.geo.gdal_scope import STREAMING_CACHE_BYTES, gdal_session
from low2high.engine.geo.raster_io import RasterSource

IMPORT_EVERYTHING = r'''
import importlib, os, pkgutil, sys
from osgeo import gdal, ogr, osr
gdal.SetCacheMax(123 * 2 ** 20)
before = (gdal.GetUseExceptions(), ogr.GetUseExceptions(), osr.GetUseExceptions(), gdal.GetCacheMax(), dict(os.environ))
import low2high
for package in ("low2high.core", "low2high.models", "low2high.engine", "low2high.train"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.split(".")[-1] not in ("plugin", "provider", "__main__"):
            importlib.import_module(info.name)
after = (gdal.GetUseExceptions(), ogr.GetUseExceptions(), osr.GetUseExceptions(), gdal.GetCacheMax(), dict(os.environ))
print("same" if before == after else f"changed: {before[:4]} -> {after[:4]}")
'''


@pytest.fixture
def exceptions_off():
    """Run a test with GDAL's error mode as QGIS leaves it (return codes), then restore."""
    saved = [module.GetUseExceptions() for module in (gdal, ogr, osr)]
    for module in (osr, ogr, gdal):  # GDAL's error handlers are a stack: pop in reverse
        if module.GetUseExceptions():
            module.DontUseExceptions()
    yield
    for module, used in zip((gdal, ogr, osr), saved):
        if used and not module.GetUseExceptions():
            module.UseExceptions()


def test_importing_every_module_changes_no_gdal_state_and_no_environment():
    completed = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, timeout=180)
    assert completed.stdout.strip() == "same", completed.stdout + completed.stderr


def test_a_run_restores_the_error_mode_and_cache_it_found(exceptions_off, tmp_path):
    cache = gdal.GetCacheMax()
    path = make_raster(str(tmp_path / "a.tif"), np.ones((2, 8, 8), np.uint8))
    source = RasterSource.open(path)
    assert source.read(source.grid.full_window).shape == (2, 8, 8)
    assert (gdal.GetUseExceptions(), ogr.GetUseExceptions(), osr.GetUseExceptions()) == (0, 0, 0)
    assert gdal.GetCacheMax() == cache


def test_errors_are_sentences_even_when_the_host_uses_return_codes(exceptions_off, tmp_path):
    broken = tmp_path / "broken.tif"
    broken.write_text("not a raster")
    with pytest.raises(Low2HighError):
        RasterSource.open(str(broken))
    assert gdal.GetUseExceptions() == 0


def test_overlapping_sessions_keep_the_settings_until_the_last_one_ends(exceptions_off):
    cache = gdal.GetCacheMax()
    first_inside, second_entered, first_done = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first() -> None:
        with gdal_session():
            first_inside.set()
            second_entered.wait(10)
        first_done.set()

    def second() -> None:
        first_inside.wait(10)
        with gdal_session():
            second_entered.set()
            first_done.wait(10)
            seen["exceptions"] = gdal.GetUseExceptions()
            seen["cache"] = gdal.GetCacheMax()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert seen == {"exceptions": 1, "cache": min(cache, STREAMING_CACHE_BYTES)}
    assert gdal.GetUseExceptions() == 0 and gdal.GetCacheMax() == cache
