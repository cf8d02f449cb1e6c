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
for package in ("low2high.core", "low2high.models", "low2high.engine", "low2high.train", "low2high.benchmarks"):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
print("imported", len([m for m in sys.modules if m.startswith("low2high.")]), "modules without QGIS")
'''


def test_core_models_engine_and_train_import_without_qgis():
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
                     "low2high/core/errors.py", "low2high/engine/inference/segment.py",
                     "low2high/resources/icons/low2high.svg",
                     "low2high/resources/sample/naip_sample.tif"):
        assert required in names
    assert not any(name.startswith("low2high/tests/") for name in names)
    # development harnesses are not what a QGIS user runs
    assert not any(name.startswith(("low2high/benchmarks/", "low2high/train/benchmarks/")) for name in names)
    assert "low2high/train/commands/fit.py" in names and "low2high/train/commands/evaluate_real.py" not in names


def test_the_zips_training_cli_lists_what_it_holds(tmp_path):
    """Without the development commands the zip's `python -m low2high.train` still starts and lists the rest."""
    target = tmp_path / "low2high.zip"
    subprocess.run([sys.executable, os.path.join(REPO_ROOT, "scripts", "package.py"), "--output", str(target)],
                   check=True, capture_output=True, timeout=120)
    zipfile.ZipFile(target).extractall(tmp_path / "plugins")
    environment = dict(os.environ, PYTHONPATH=str(tmp_path / "plugins"))
    completed = subprocess.run([sys.executable, "-m", "low2high.train", "--help"], cwd=tmp_path, env=environment,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "finetune" in completed.stdout and "evaluate-real" not in completed.stdout


# Which top-level parts of the package each part may import (see docs/architecture.md, "Map of the code"):
# a strict stack, core ← models ← engine ← train ← algorithms ← low2high_plugin; each part imports only parts
# below it. The training module reuses the engine's raster I/O, alignment and metrics (so `train evaluate`
# is the same code as low2high:evaluate), hence train above engine; the QGIS glue lists the algorithms, so it
# is the top, and core (the rules everything uses) imports nothing of ours.
LAYERS = ("core", "models", "engine", "train", "algorithms", "low2high_plugin")
ALLOWED_IMPORTS = {part: set(LAYERS[:index]) for index, part in enumerate(LAYERS)}
ALLOWED_IMPORTS["benchmarks"] = {"core", "models", "engine"}  # development harnesses: nothing imports them
# Training runs headless on clusters: it never needs the tiled-inference engine.
FORBIDDEN = {("train", "low2high.engine.inference")}
# QGIS (and its Qt bindings) only where the design allows: the entry point, the algorithms, the glue.
QGIS_PARTS = ("algorithms", "low2high_plugin")
SKIPPED_FOLDERS = {"tests", "scripts", ".venv", ".build", ".git", "dist", "out", "build"}


def package_modules() -> dict[str, str]:
    """Dotted module name → file, for every module of the package."""
    modules = {}
    for folder, folders, files in os.walk(REPO_ROOT):
        folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS and not name.startswith(".")]
        for name in files:
            if name.endswith(".py"):
                parts = os.path.relpath(os.path.join(folder, name), REPO_ROOT)[:-3].split(os.sep)
                parts = parts[:-1] if parts[-1] == "__init__" else parts
                modules[".".join(["low2high"] + parts)] = os.path.join(folder, name)
    return modules


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Module → package modules it imports, and module → outside top-level names it imports.

    Every import counts, at module level or inside a function: a cycle hidden in a function is
    still a cycle.
    """
    import ast

    modules = package_modules()
    inside: dict[str, set[str]] = {name: set() for name in modules}
    outside: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            for candidate in candidates:
                if candidate in modules:
                    if candidate != module:
                        inside[module].add(candidate)
                elif not candidate.startswith("low2high"):
                    outside[module].add(candidate.split(".")[0])
    return inside, outside


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_dependency_direction():
    inside, _ = import_graph()
    wrong = [f"{module} imports {target}" for module, targets in inside.items() for target in targets
             if part_of(module) in ALLOWED_IMPORTS and part_of(target) != part_of(module)
             and part_of(target) not in ALLOWED_IMPORTS[part_of(module)]]
    wrong += [f"{module} imports {target}" for module, targets in inside.items() for target in targets
              for part, forbidden in FORBIDDEN if part_of(module) == part and target.startswith(forbidden)]
    assert not wrong, wrong
    assert any(part_of(target) == "engine" for module, targets in inside.items() if part_of(module) == "train"
               for target in targets), "the check must see the imports it polices"
    folders = {part_of(module) for module in inside if module.count(".") >= 2}
    assert folders == set(ALLOWED_IMPORTS), f"a folder without a rule: {sorted(folders ^ set(ALLOWED_IMPORTS))}"


def test_no_import_cycles_between_modules():
    inside, _ = import_graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(inside[module]):
            if state.get(target) == 1:
                cycles.append(" → ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(inside):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_qgis_is_imported_only_by_the_entry_point_the_algorithms_and_the_glue():
    _, outside = import_graph()
    wrong = sorted(module for module, names in outside.items() if names & {"qgis", "PyQt5", "PyQt6"}
                   and not (module == "low2high" or part_of(module) in QGIS_PARTS))
    assert not wrong, wrong


def test_low2high_plugin_holds_only_the_qgis_glue():
    """The folder's name is true: what runs without QGIS belongs in engine/ or core/, not here."""
    _, outside = import_graph()
    glue = [module for module in outside
            if part_of(module) == "low2high_plugin" and module != "low2high.low2high_plugin"]
    assert glue, "the glue is where the check looks"
    not_glue = sorted(module for module in glue if not outside[module] & {"qgis", "PyQt5", "PyQt6"})
    assert not not_glue, f"QGIS-free modules in low2high_plugin/ (move them to engine/ or core/): {not_glue}"
