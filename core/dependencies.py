"""Import optional heavy packages on demand, with an install command when they are missing.

QGIS must start and list the algorithms without torch or onnxruntime; an algorithm that needs
one of them fails with a message naming the package and the command that installs it.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import sysconfig
from types import ModuleType
from typing import Optional

from .errors import MissingDependencyError
from .resources import resource_path

REQUIREMENTS_FILE = resource_path("requirements.txt")
"""The one list of pinned packages (also read by pyproject.toml and the Makefile)."""


def pinned_requirements(path: str = REQUIREMENTS_FILE) -> dict[str, str]:
    """Package name → its pinned requirement line, e.g. ``{"torch": "torch==2.13.0"}``."""
    requirements = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            requirement = line.split("#", 1)[0].strip()
            if requirement:
                name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0]
                requirements[name.lower()] = requirement
    return requirements


def python_executable() -> str:
    """The Python interpreter running this code, also inside QGIS, where sys.executable is no guide
    (what install commands name, and what segment-many's worker processes are started with).

    Inside QGIS desktop the embedded Python guesses ``sys.executable`` by looking for ``python3``
    on PATH, so it may name a pyenv shim or a conda Python whose packages QGIS never sees (and
    under qgis_process or on Windows it is QGIS itself). So ``sys.executable`` is trusted only
    where it lies in this Python's own installation (a venv's ``bin/`` included); otherwise the
    interpreter of the installation prefix is named.
    """
    own_folders = {os.path.normcase(os.path.abspath(os.path.join(prefix, sub)))
                   for prefix in {sys.prefix, sys.exec_prefix, sys.base_exec_prefix} for sub in ("bin", "Scripts", "")}
    executable = sys.executable or ""
    if (os.path.basename(executable).lower().startswith("python")
            and os.path.normcase(os.path.dirname(os.path.abspath(executable))) in own_folders):
        return executable
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefix = sys.base_exec_prefix
    for candidate in (os.path.join(prefix, "python.exe"), os.path.join(prefix, "bin", f"python{version}"),
                      os.path.join(prefix, "bin", "python3")):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return f"python{version}"


def install_command(module: str) -> str:
    """The command that installs ``module`` for the Python that runs this code.

    Debian's system Python is "externally managed" (PEP 668): pip refuses to install there
    without ``--user --break-system-packages``, so the command says so when it applies.
    """
    requirement = pinned_requirements().get(module, module)
    command = f"{python_executable()} -m pip install"
    in_venv = sys.prefix != sys.base_prefix
    managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
    if managed and not in_venv:
        command += " --user --break-system-packages"
    return f'{command} "{requirement}"'


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` saying how to install it.

    Args:
        module: importable name, e.g. ``"torch"``.
        purpose: what needs it, completing "... is needed to <purpose>".
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise _missing(module, purpose, error) from error


def missing_package(error: ImportError, purpose: str) -> Optional[MissingDependencyError]:
    """The install sentence for an ImportError of a pinned package raised by a module-level import
    deep inside a command (``import torch`` at the top of a training module), or None when the
    missing module is not one of ours to install (a genuine bug, left to its traceback).
    """
    name = (error.name or "").split(".")[0].lower()
    if not name or name not in pinned_requirements():
        return None
    return _missing(name, purpose, error)


def _missing(module: str, purpose: str, error: ImportError) -> MissingDependencyError:
    return MissingDependencyError(f"The Python package '{module}' is needed to {purpose}, but it cannot be imported "
                                  f"({error}). Install it with: {install_command(module)}")
