"""Enum parameters take an option's number as well as its name (DEVICE=1), in every algorithm.

``qgis_process help`` on QGIS 3.22 lists enum options as ``0: auto, 1: cpu``; with static strings
QGIS refused that form as "Incorrect parameter value".
"""
import os
import subprocess

import numpy as np
import pytest
from helpers import REPO_ROOT, make_raster, read


def _static_enums(provider):
    from qgis.core import QgsProcessingParameterEnum

    for algorithm in provider.algorithms():
        for definition in algorithm.parameterDefinitions():
            if isinstance(definition, QgsProcessingParameterEnum) and definition.usesStaticStrings():
                yield algorithm, definition


def test_every_enum_of_every_algorithm_reads_option_numbers_as_names(low2high_provider):
    from low2high.algorithms.enums import enum_numbers_as_names

    enums = list(_static_enums(low2high_provider))
    names = {(algorithm.name(), definition.name()) for algorithm, definition in enums}
    assert {("segment", "DEVICE"), ("remap", "TAXONOMY"), ("finetune", "LOSS"), ("finetune", "DEVICE")} <= names
    for algorithm, definition in enums:
        for index, option in enumerate(definition.options()):
            for given in (index, str(index)):
                assert enum_numbers_as_names(algorithm, {definition.name(): given})[definition.name()] == option
        out_of_range = len(definition.options())
        assert enum_numbers_as_names(algorithm, {definition.name(): out_of_range})[definition.name()] == out_of_range


def test_remap_runs_with_a_taxonomy_number(low2high_provider, folder):
    import processing
    from qgis.core import QgsProcessingException

    labels = make_raster(os.path.join(folder, "lc.tif"), np.array([[1, 2], [3, 4]], np.uint8))
    algorithm = low2high_provider.algorithm("remap")
    chesapeake = algorithm.parameterDefinition("TAXONOMY").options().index("chesapeake")
    result = processing.run("low2high:remap", {"INPUT": labels, "TAXONOMY": chesapeake,
                                               "OUTPUT": os.path.join(folder, "merged.tif")})
    assert read(result["OUTPUT"], 1).tolist() == [[0, 1], [2, 3]]
    with pytest.raises(QgsProcessingException, match="TAXONOMY"):
        processing.run("low2high:remap", {"INPUT": labels, "TAXONOMY": 99, "OUTPUT": os.path.join(folder, "x.tif")})


def test_qgis_process_takes_a_number_and_leaves_the_real_profile_alone(folder):
    """scripts/qgis_process enabled the plugin in the user's default profile; now it uses its own folder."""
    home = os.path.join(folder, "home")
    os.makedirs(home)
    environment = dict(os.environ, HOME=home, QT_QPA_PLATFORM="offscreen")
    for name in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_PLUGINPATH"):
        environment.pop(name, None)
    labels = make_raster(os.path.join(folder, "lc.tif"), np.array([[1, 2], [3, 4]], np.uint8))
    target = os.path.join(folder, "merged.tif")
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "run", "low2high:remap", "--", f"INPUT={labels}",
         "TAXONOMY=1", f"OUTPUT={target}"], capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert read(target, 1).tolist() == [[0, 1], [2, 3]]  # option 1 is chesapeake
    real = os.path.join(home, ".local", "share", "QGIS", "QGIS3", "profiles", "default", "QGIS", "QGIS3.ini")
    assert not os.path.exists(real) or "low2high" not in open(real, encoding="utf-8").read()
