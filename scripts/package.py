#!/usr/bin/env python3
"""Build the installable QGIS plugin zip: dist/low2high-<version>.zip with a folder low2high/.

Only files git tracks go in, and only what runs inside QGIS or is needed to train a model the
plugin uses (tests, CI and developer scripts stay out). Install it with QGIS's
Plugins ▸ Manage and Install Plugins ▸ Install from ZIP.
"""
from __future__ import annotations

import argparse
import configparser
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDED_FOLDERS = ("core/", "models/", "engine/", "train/", "algorithms/", "low2high_plugin/", "resources/")
INCLUDED_FILES = ("__init__.py", "metadata.txt", "LICENSE", "README.md")
#: Development harnesses inside an included folder: the paper and quality benchmarks and the demo model's dataset
#: recipe read ../shared and write .build/ of a checkout, so a QGIS user's zip leaves them out (and
#: ``python -m low2high.train`` lists only the commands whose module it finds).
DEVELOPMENT_FILES = ("train/benchmarks/", "train/commands/benchmark.py", "train/commands/evaluate_real.py",
                     "train/commands/demo_dataset.py")


def plugin_files() -> list[str]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    return sorted(f for f in tracked if (f in INCLUDED_FILES or f.startswith(INCLUDED_FOLDERS))
                  and not f.startswith(DEVELOPMENT_FILES))


def main() -> int:
    metadata = configparser.ConfigParser()
    metadata.read(os.path.join(ROOT, "metadata.txt"))
    version = metadata["general"]["version"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(ROOT, "dist", f"low2high-{version}.zip"))
    target = os.path.abspath(parser.parse_args().output)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + ".partial"
    files = plugin_files()
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in files:
            archive.write(os.path.join(ROOT, name), f"low2high/{name}")
    os.replace(partial, target)
    size = os.path.getsize(target) / 1e6
    print(f"{target}: {len(files)} files, {size:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
