"""The pins are one file: the plugin's install advice, pyproject.toml and the Makefile all read it."""
from __future__ import annotations

import os
import tomllib

from helpers import REPO_ROOT

from low2high.core.dependencies import REQUIREMENTS_FILE, install_command, pinned_requirements


def test_install_advice_uses_the_pinned_versions():
    pins = pinned_requirements()
    assert pins["torch"].startswith("torch==") and pins["onnxruntime"].startswith("onnxruntime==")
    assert pins["torch"] in install_command("torch")


def test_pyproject_and_makefile_read_the_same_file():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as handle:
        project = tomllib.load(handle)
    dependencies = project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"]
    assert [os.path.join(REPO_ROOT, name) for name in dependencies] == [REQUIREMENTS_FILE]
    with open(os.path.join(REPO_ROOT, "Makefile"), encoding="utf-8") as handle:
        assert "resources/requirements.txt" in handle.read()


def test_inside_qgis_the_command_names_qgis_own_python_not_one_on_path(monkeypatch, tmp_path):
    """sys.executable is QGIS there; shutil.which('python3') found a pyenv shim QGIS never uses."""
    import sys

    shim = tmp_path / "shims" / "python3"
    shim.parent.mkdir()
    shim.write_text("#!/bin/sh\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis")
    command = install_command("torch")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert command.startswith(os.path.join(sys.base_exec_prefix, "bin", f"python{version} -m pip install"))
    assert str(shim) not in command
