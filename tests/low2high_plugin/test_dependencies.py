"""The pins are one file: the plugin's install advice, pyproject.toml and the Makefile all read it."""
from __future__ import annotations

import os
import tomllib

from helpers import REPO_ROOT

from low2high.low2high_plugin.dependencies import REQUIREMENTS_FILE, install_command, pinned_requirements


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
