"""scripts/qgis_process works whatever Python the caller's shell puts first on PATH (issue 23).

QGIS embeds Python, and an embedded Python takes its standard library from beside the first
``python3`` on PATH. A pyenv or conda Python of QGIS's own version first on PATH (a shell with a
pyenv version or a conda environment active) handed QGIS that Python's standard library: "No
module named 'qgis'", then a crash, and every qgis_process test failed. Here the foreign Python is
a stand-in made by the test: a ``bin/python3`` beside a ``lib/python3.X`` that holds only the
landmark file an interpreter looks for, so the embedded Python, if it looked there, could not
even start.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO_ROOT, make_raster, read


def foreign_python(folder: str) -> str:
    """A Python installation of QGIS's Python version that QGIS must not use; returns its bin folder."""
    bin_folder = os.path.join(folder, "foreign", "bin")
    library = os.path.join(folder, "foreign", "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")
    os.makedirs(bin_folder)
    os.makedirs(os.path.join(library, "lib-dynload"))
    with open(os.path.join(library, "os.py"), "w", encoding="utf-8") as handle:
        handle.write("raise ImportError('the standard library of a foreign Python was used')\n")
    python = os.path.join(bin_folder, "python3")
    with open(python, "w", encoding="utf-8") as handle:
        handle.write("#!/bin/sh\necho 'the foreign python3 was run' >&2\nexit 3\n")
    os.chmod(python, 0o755)
    return bin_folder


@pytest.mark.parametrize("how", ["first on PATH", "first on PATH and as PYTHONHOME"])
def test_qgis_process_runs_with_a_foreign_python_first_on_path(folder, how):
    source = make_raster(os.path.join(folder, "nlcd.tif"), np.array([[11, 41], [82, 22]], np.uint8))
    target = os.path.join(folder, "merged.tif")
    foreign = foreign_python(folder)
    environment = dict(os.environ, PATH=foreign + os.pathsep + os.environ.get("PATH", ""),
                       QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"), QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    if how.endswith("PYTHONHOME"):
        environment["PYTHONHOME"] = os.path.dirname(foreign)
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "--json", "run", "low2high:remap", "--",
         f"INPUT={source}", "TAXONOMY=nlcd", f"OUTPUT={target}"],
        capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "foreign" not in completed.stderr.replace(folder, "")  # neither message of the foreign Python
    report = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert report["results"]["OUTPUT"] == target and read(target, 1).tolist() == [[0, 1], [2, 3]]
