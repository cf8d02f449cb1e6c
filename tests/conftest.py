"""Fixtures shared by core and plugin tests: small rasters and models made by code."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import make_raster, scene  # noqa: E402,F401  (re-exported for tests)


@pytest.fixture
def folder(tmp_path):
    """A fresh folder for a test's files (a str, as the engine takes paths)."""
    return str(tmp_path)
