"""Fixtures shared by core and plugin tests: small rasters and models made by code."""
from __future__ import annotations

import gc
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import make_raster, scene  # noqa: E402,F401  (re-exported for tests)


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory):
    """segment's cache of int8 models and precision trials goes to a test folder, not ~/.cache
    (set in os.environ so that qgis_process and other child processes inherit it)."""
    folder = str(tmp_path_factory.mktemp("low2high-cache"))
    previous = os.environ.get("LOW2HIGH_CACHE_DIR")
    os.environ["LOW2HIGH_CACHE_DIR"] = folder
    yield folder
    if previous is None:
        os.environ.pop("LOW2HIGH_CACHE_DIR", None)
    else:
        os.environ["LOW2HIGH_CACHE_DIR"] = previous


@pytest.fixture(autouse=True)
def free_gdal_objects_while_gdal_lives():
    """Collect each test's garbage before the next one.

    An error raised while a GDAL dataset was open leaves a reference cycle (exception → traceback →
    frame → dataset). Collected only at exit, after pytest-qgis has shut QGIS (and GDAL's drivers)
    down, such a dataset's destructor crashed the process (exit 139) although every test passed.
    """
    yield
    gc.collect()


@pytest.fixture
def folder(tmp_path):
    """A fresh folder for a test's files (a str, as the engine takes paths)."""
    return str(tmp_path)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A small random 4-band model as a .pt checkpoint and as its .onnx export."""
    from helpers import export_model, make_model

    folder = tmp_path_factory.mktemp("models")
    checkpoint = make_model(str(folder / "tiny.pt"))
    return checkpoint, export_model(checkpoint, str(folder / "tiny.onnx"))
