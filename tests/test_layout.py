"""The package's shape: headless parts import without QGIS, and the plugin zip is installable."""
import os
import subprocess
import sys
import zipfile

from helpers import REPO_ROOT


WITHOUT_QGIS = r'''
import importlib, pkgutil, sys
class NoQgis:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("qgis", "PyQt5", "PyQt6"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, NoQgis())
import low2high
QGIS_GLUE = {"low2high.low2high_plugin.plugin", "low2high.low2high_plugin.provider"}
for package in ("low2high.models", "low2high.train", "low2high.low2high_plugin"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name not in QGIS_GLUE and not info.name.endswith("__main__"):
            importlib.import_module(info.name)
print("imported", len([m for m in sys.modules if m.startswith("low2high.")]), "modules without QGIS")
'''


def test_models_train_and_engine_import_without_qgis():
    completed = subprocess.run([sys.executable, "-c", WITHOUT_QGIS], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "without QGIS" in completed.stdout


def test_plugin_entry_point_imports_nothing_heavy():
    code = "import sys, low2high; print(sorted(m for m in ('torch', 'onnxruntime', 'qgis') if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip() == "[]", completed.stdout + completed.stderr


def test_package_zip_holds_the_plugin_folder(tmp_path):
    target = tmp_path / "low2high.zip"
    subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "package.py"), "--output", str(target)],
                   check=True, capture_output=True, timeout=120)
    names = zipfile.ZipFile(target).namelist()
    assert all(name.startswith("low2high/") for name in names)
    for required in ("low2high/metadata.txt", "low2high/__init__.py", "low2high/low2high_plugin/provider.py",
                     "low2high/algorithms/segment.py", "low2high/models/unet.py",
                     "low2high/resources/icons/low2high.svg",
                     "low2high/resources/sample/naip_sample.tif"):
        assert required in names
    assert not any(name.startswith("low2high/tests/") for name in names)


# Which top-level parts of the package each part may import (see README, "Design notes"):
# the training module reuses the engine's raster I/O, alignment and metrics (so `train evaluate`
# is the same code as low2high:evaluate), hence train → low2high_plugin, never the reverse.
ALLOWED_IMPORTS = {
    "models": set(),
    "low2high_plugin": {"models"},
    "train": {"low2high_plugin", "models"},
    "algorithms": {"low2high_plugin", "models", "train"},
}
# The provider lists the algorithms: the one place the engine's folder reaches up (QGIS glue).
GLUE_IMPORTS = {("low2high_plugin/provider.py", "algorithms")}


def package_imports(part: str) -> set[tuple[str, str]]:
    """(file, imported part) for every import of another part of the package inside ``part``."""
    import ast

    found = set()
    for folder, _, files in os.walk(os.path.join(REPO_ROOT, part)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            depth = os.path.relpath(path, REPO_ROOT).count(os.sep)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    if node.level == 0 and (node.module or "").startswith("low2high."):
                        found.add((path, node.module.split(".")[1]))
                    elif node.level == depth + 1 and node.module:
                        found.add((path, node.module.split(".")[0]))
                elif isinstance(node, ast.Import):
                    found.update((path, alias.name.split(".")[1]) for alias in node.names
                                 if alias.name.startswith("low2high."))
    return {(path, target) for path, target in found if target in ALLOWED_IMPORTS and target != part}


def test_dependency_direction_has_no_cycles():
    wrong = [f"{os.path.relpath(path, REPO_ROOT)} imports {target}"
             for part, allowed in ALLOWED_IMPORTS.items()
             for path, target in package_imports(part)
             if target not in allowed and (os.path.relpath(path, REPO_ROOT), target) not in GLUE_IMPORTS]
    assert not wrong, wrong
    assert package_imports("train"), "the check must see the imports it polices"
