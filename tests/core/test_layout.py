"""The package's shape: headless parts import without QGIS, and the plugin zip is installable."""
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "package.py"), "--output", str(target)],
                   check=True, capture_output=True, timeout=120)
    names = zipfile.ZipFile(target).namelist()
    assert all(name.startswith("low2high/") for name in names)
    for required in ("low2high/metadata.txt", "low2high/__init__.py", "low2high/low2high_plugin/provider.py",
                     "low2high/algorithms/segment.py", "low2high/models/unet.py", "low2high/resources/icons/low2high.svg",
                     "low2high/resources/sample/naip_sample.tif"):
        assert required in names
    assert not any(name.startswith("low2high/tests/") for name in names)
