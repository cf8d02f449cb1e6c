"""`pip install .` (not editable) gives a working package: every sub-package, the resources, the CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib

import pytest
from helpers import REPO_ROOT

SKIPPED_FOLDERS = {"tests", "scripts", ".venv", ".build", ".git", "dist", "out", "build"}
#: Top-level development harnesses, run from a checkout (make bench), not installed.
DEVELOPMENT_FOLDERS = {"benchmarks"}


def source_packages() -> set[str]:
    """Dotted names of the folders of the checkout that hold an __init__.py, as the package ``low2high``."""
    found = set()
    for folder, folders, files in os.walk(REPO_ROOT):
        folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS and not name.startswith(".")
                      and not (folder == REPO_ROOT and name in DEVELOPMENT_FOLDERS)]
        if "__init__.py" in files:
            relative = os.path.relpath(folder, REPO_ROOT)
            found.add("low2high" if relative == "." else "low2high." + relative.replace(os.sep, "."))
    return found


def test_pyproject_lists_every_sub_package():
    with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as handle:
        listed = set(tomllib.load(handle)["tool"]["setuptools"]["packages"])
    assert listed == source_packages()


@pytest.mark.slow
def test_a_non_editable_install_runs_the_training_cli_and_has_its_resources(tmp_path):
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    for name in tracked:
        if os.path.isfile(os.path.join(REPO_ROOT, name)):
            os.makedirs(source / os.path.dirname(name), exist_ok=True)
            shutil.copy2(os.path.join(REPO_ROOT, name), source / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    environment = dict(os.environ, PYTHONPATH=str(target))
    probe = ("import low2high, os; from low2high.core.resources import resource_path; "
             "print(low2high.__file__); "
             "print(all(os.path.exists(resource_path(*p)) for p in [('models', 'demo.pt'), "
             "('taxonomies', 'nlcd.json'), ('styles', 'classes.qml'), ('requirements.txt',)]))")
    completed = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=environment, capture_output=True,
                               text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    location, resources = completed.stdout.split()
    assert location.startswith(str(target)) and resources == "True"
    completed = subprocess.run([sys.executable, "-m", "low2high.train", "--help"], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "build-dataset" in completed.stdout and "fit" in completed.stdout
