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


def _python_executable() -> str:
    """The Python interpreter running this code, also inside QGIS, where sys.executable is QGIS itself.

    The embedded Python's own interpreter lies in its installation prefix; ``python3`` found on
    PATH may be another Python altogether (a pyenv shim, conda), and packages installed there are
    invisible to QGIS.
    """
    if os.path.basename(sys.executable).lower().startswith("python"):
        return sys.executable
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
    command = f"{_python_executable()} -m pip install"
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
        raise MissingDependencyError(
            f"The Python package '{module}' is needed to {purpose}, but it cannot be imported "
            f"({error}). Install it with: {install_command(module)}"
        ) from error
