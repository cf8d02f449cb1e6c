"""A missing package, or any other failure of a run, is told once, with the Python that QGIS runs.

QGIS 3.22's qgis_process printed every failed algorithm's message three times (its message log
twice around the ERROR: line, for any plugin): scripts/qgis_process leaves the ERROR: line alone.
Inside QGIS desktop ``sys.executable`` is the first ``python3`` on PATH (a pyenv shim here), so
the install command must not name it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from low2high.core import dependencies

SENTENCE = "is not a text table"


@pytest.mark.parametrize("json_mode", [False, True])
def test_qgis_process_prints_a_failed_runs_message_once(folder, json_mode):
    mapping = os.path.join(folder, "mapping.csv")
    with open(mapping, "wb") as handle:
        handle.write(b"code,class\n11,water\n\xff\xfe\x00\x89PNG")
    labels = os.path.join(REPO_ROOT, "resources", "sample", "naip_sample_nlcd.tif")
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"),
                       QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), *(["--json"] if json_mode else []), "run",
         "low2high:remap", "--", f"INPUT={labels}",
         "TAXONOMY=custom", f"MAPPING={mapping}", f"OUTPUT={os.path.join(folder, 'merged.tif')}"],
        capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 1
    output = completed.stdout + completed.stderr
    assert output.count(SENTENCE) == 1, output
    if not json_mode:  # (with --json, QGIS prints only its message log's copies: one is left)
        assert f"ERROR:\tThe MAPPING file 'mapping.csv' {SENTENCE}" in completed.stderr
    assert not os.path.exists(os.path.join(folder, "merged.tif"))


def test_the_filter_drops_only_the_copies_around_an_error_line():
    lines = ["<string>:1: DeprecationWarning: setapi() is deprecated", "The model is missing.",
             "ERROR:\tThe model is missing.", "The model is missing.", "WARNING:\tsomething else",
             "The model is missing.", "A --json run's message.", "A --json run's message."]
    completed = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "qgis_errors_once.py")],
                               input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60)
    assert completed.stdout.splitlines() == [lines[0], lines[2], lines[4], lines[5], lines[6]]


def test_inside_qgis_desktop_the_install_command_skips_a_shim_named_python3(monkeypatch, tmp_path):
    """QGIS desktop's embedded Python sets sys.executable to the first python3 on PATH."""
    shim = tmp_path / "shims" / "python3"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\n")
    shim.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(shim))
    command = dependencies.install_command("torch")
    assert str(shim) not in command
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert command.startswith(os.path.join(sys.base_exec_prefix, "bin", f"python{version} -m pip install"))
