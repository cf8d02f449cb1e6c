"""low2high:segmentmany inside QGIS: qgis_process (workers started with the system Python, since QGIS is
sys.executable there) and a cancel that stops the job's cluster and keeps only finished maps."""
import json
import os
import subprocess
import sys

import psutil
import pytest
from helpers import REPO_ROOT, WITHOUT_DASK_PRELUDE, make_raster, scene

pytest.importorskip("distributed")


@pytest.fixture
def rasters(folder):
    os.makedirs(os.path.join(folder, "naip"))
    return [make_raster(os.path.join(folder, "naip", f"quad_{index}.tif"), scene(256, 256, seed=index)[0])
            for index in range(6)]


def test_qgis_process_maps_a_folder_with_worker_processes(rasters, folder, tiny_models):
    with open(os.path.join(folder, "naip", "broken.tif"), "w") as handle:
        handle.write("not a raster")
    output = os.path.join(folder, "maps")
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"),
                       QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "--json", "run", "low2high:segmentmany", "--",
         f"FOLDER={os.path.join(folder, 'naip')}", f"MODEL={tiny_models[0]}", "WORKERS=1", "PRECISION=fp32",
         f"OUTPUT_FOLDER={output}"], capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = json.loads(completed.stdout[completed.stdout.index("{"):])["results"]
    assert (results["MAPPED"], results["FAILED"], results["REFUSED"]) == (6, 0, 1)
    assert results["MOSAIC"] == os.path.join(output, "mosaic.vrt") and os.path.exists(results["SUMMARY"])
    assert all(os.path.exists(os.path.join(output, f"quad_{index}.tif")) for index in range(6))


def worker_processes() -> set[int]:
    """This process's children but multiprocessing's resource tracker (one per process, started with the first)."""
    return {child.pid for child in psutil.Process().children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())}


def test_cancel_stops_the_cluster_and_keeps_finished_maps(low2high_provider, rasters, folder, tiny_models):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAfterTheFirstRaster(QgsProcessingFeedback):
        def pushInfo(self, info: str) -> None:  # noqa: N802
            super().pushInfo(info)
            if info.startswith("1/"):
                self.cancel()

    output = os.path.join(folder, "maps")
    before = worker_processes()
    with pytest.raises(QgsProcessingException, match="the maps finished so far stay"):
        processing.run("low2high:segmentmany", {"INPUTS": rasters, "MODEL": tiny_models[0], "WORKERS": 1,
                                                "PRECISION": "fp32", "OUTPUT_FOLDER": output},
                       feedback=CancelAfterTheFirstRaster())
    assert worker_processes() <= before  # the job's workers are gone
    maps = sorted(name for name in os.listdir(output) if name.endswith(".tif"))
    assert 1 <= len(maps) < len(rasters)
    assert not os.path.exists(os.path.join(output, "summary.csv"))


WITHOUT_DASK = WITHOUT_DASK_PRELUDE + """from low2high.algorithms import ALGORITHMS
print(sorted(algorithm().name() for algorithm in ALGORITHMS))
"""


def test_the_plugin_lists_every_algorithm_without_dask():
    completed = subprocess.run([sys.executable, "-c", WITHOUT_DASK], capture_output=True, text=True, timeout=120,
                               cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr
    assert "'segment'" in completed.stdout and "'segmentmany'" in completed.stdout
