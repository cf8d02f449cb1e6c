"""low2high:segment inside real QGIS: Processing, the graphical modeler, qgis_process, no torch."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO_ROOT, make_raster, read, scene

from low2high.core.dependencies import pinned_requirements


@pytest.fixture
def image(folder):
    pixels, _ = scene(160, 200, seed=5)
    return make_raster(os.path.join(folder, "image.tif"), pixels)


def test_provider_lists_algorithms_with_help_and_icon(low2high_provider):
    names = [algorithm.id() for algorithm in low2high_provider.algorithms()]
    assert "low2high:segment" in names
    for algorithm in low2high_provider.algorithms():
        assert algorithm.shortHelpString().strip() and not algorithm.icon().isNull()
        assert algorithm.displayName() and algorithm.group()


def test_segment_with_processing_run_and_a_temporary_output(low2high_provider, image, tiny_models):
    import processing
    from qgis.core import QgsProcessing, QgsRasterLayer

    result = processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[0], "TILE_SIZE": 128,
                                                 "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    layer = QgsRasterLayer(result["OUTPUT"], "map")
    assert layer.isValid() and layer.width() == 200 and layer.height() == 160
    assert layer.renderer().type() == "paletted"
    assert [c.label for c in layer.renderer().classes()] == ["water", "forest", "field", "impervious"]
    assert result["OUTPUT_PROBABILITIES"] is None


def test_segment_as_a_step_of_a_graphical_model(low2high_provider, image, folder, tiny_models):
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterDestination,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("one step", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("image", "Image"), QgsProcessingModelParameter("image"))
    child = QgsProcessingModelChildAlgorithm("low2high:segment")
    child.setChildId("segment")
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("image")])
    child.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromStaticValue(tiny_models[1])])
    output = QgsProcessingModelOutput("landcover", "Land cover")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"landcover": output})
    model.addChildAlgorithm(child)
    model.addModelParameter(QgsProcessingParameterRasterDestination("segment:landcover", "Land cover"),
                            QgsProcessingModelParameter("segment:landcover"))
    target = os.path.join(folder, "from_model.tif")
    result = processing.run(model, {"image": image, "segment:landcover": target})
    assert result["segment:landcover"] == target
    assert read(target, 1).shape == (160, 200)


def test_user_mistake_is_a_processing_error_with_a_sentence(low2high_provider, folder, tiny_models):
    import processing
    from qgis.core import QgsProcessingException

    pixels, _ = scene(64, 64, bands=3)
    rgb = make_raster(os.path.join(folder, "rgb.tif"), pixels)
    with pytest.raises(QgsProcessingException, match="expects 4 bands"):
        processing.run("low2high:segment", {"INPUT": rgb, "MODEL": tiny_models[0],
                                            "OUTPUT": os.path.join(folder, "o.tif")})
    assert not os.path.exists(os.path.join(folder, "o.tif"))


def _isolated_qgis_environment(folder):
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"),
                       QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    return environment


def test_qgis_process_runs_segment(image, folder, tiny_models):
    target = os.path.join(folder, "cli.tif")
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "--json", "run", "low2high:segment", "--",
         f"INPUT={image}", f"MODEL={tiny_models[0]}", "TILE_SIZE=128", "OVERLAP=16", "DEVICE=cpu",
         f"OUTPUT={target}", f"OUTPUT_PROBABILITIES={os.path.join(folder, 'cli_p.tif')}"],
        capture_output=True, text=True, env=_isolated_qgis_environment(folder), timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert report["results"]["OUTPUT"] == target
    assert read(target, 1).max() <= 3 and read(os.path.join(folder, "cli_p.tif")).shape == (4, 160, 200)


def test_qgis_process_reports_a_bad_model_without_a_traceback(image, folder):
    broken = os.path.join(folder, "broken.pt")
    with open(broken, "wb") as handle:
        handle.write(b"no weights here")
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "run", "low2high:segment", "--",
         f"INPUT={image}", f"MODEL={broken}", f"OUTPUT={os.path.join(folder, 'o.tif')}"],
        capture_output=True, text=True, env=_isolated_qgis_environment(folder), timeout=300)
    assert completed.returncode != 0
    assert "not a PyTorch model file" in completed.stdout + completed.stderr
    assert "Traceback" not in completed.stdout + completed.stderr


WITHOUT_TORCH = r'''
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'")
sys.meta_path.insert(0, NoTorch())
from qgis.core import QgsApplication, QgsProcessingException
app = QgsApplication([], False)
app.initQgis()
sys.path.append("/usr/share/qgis/python/plugins")
from processing.core.Processing import Processing
Processing.initialize()
import processing
from low2high import classFactory
plugin = classFactory(None)
plugin.initProcessing()
print("ALGORITHMS", [a.id() for a in QgsApplication.processingRegistry().providerById("low2high").algorithms()])
image, onnx_model, pt_model, folder = sys.argv[1:5]
result = processing.run("low2high:segment", {"INPUT": image, "MODEL": onnx_model, "OUTPUT": folder + "/onnx.tif"})
print("ONNX OK", result["OUTPUT"])
try:
    processing.run("low2high:segment", {"INPUT": image, "MODEL": pt_model, "OUTPUT": folder + "/pt.tif"})
except QgsProcessingException as error:
    print("PT ERROR", error)
print("TORCH LOADED", "torch" in sys.modules)
'''


def test_qgis_without_torch_lists_algorithms_and_runs_onnx_models(image, folder, tiny_models):
    completed = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, image, tiny_models[1], tiny_models[0], folder],
                               capture_output=True, text=True, env=_isolated_qgis_environment(folder), timeout=300)
    output = completed.stdout
    assert completed.returncode == 0, output + completed.stderr
    assert "low2high:segment" in output.split("ALGORITHMS")[1].splitlines()[0]
    assert "ONNX OK" in output and np.isin(read(os.path.join(folder, "onnx.tif"), 1), [0, 1, 2, 3]).all()
    error_line = output.split("PT ERROR")[1].splitlines()[0]
    torch_pin = pinned_requirements()["torch"]  # the pin of resources/requirements.txt, e.g. torch==2.13.0
    assert "'torch'" in error_line and "pip install" in error_line and torch_pin in error_line
    assert "TORCH LOADED False" in output


def test_precision_parameter_reaches_the_engine(low2high_provider, image, folder, tiny_models):
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    algorithm = QgsApplication.processingRegistry().algorithmById("low2high:segment")
    parameter = algorithm.parameterDefinition("PRECISION")
    assert parameter.options() == ["auto", "fp32", "bf16", "int8"] and parameter.defaultValue() == "auto"
    with pytest.raises(QgsProcessingException, match=r"PRECISION bf16 cannot be used here: .*\.pt checkpoint"):
        processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[1], "PRECISION": "bf16",
                                            "OUTPUT": os.path.join(folder, "bf16.tif")})
    target = os.path.join(folder, "int8.tif")
    processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[1], "PRECISION": "int8",
                                        "TILE_SIZE": 128, "OUTPUT": target})
    assert read(target, 1).shape == (160, 200)


def test_segment_runs_a_deepness_model_on_the_bands_chosen(low2high_provider, image, folder):
    import processing
    from deepness_models import deepness_model
    from qgis.core import QgsProcessing, QgsRasterLayer

    model = deepness_model(os.path.join(folder, "deepness.onnx"))
    result = processing.run("low2high:segment", {"INPUT": image, "MODEL": model, "BANDS": "3,2,1",
                                                 "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})
    layer = QgsRasterLayer(result["OUTPUT"], "map")
    assert [c.label for c in layer.renderer().classes()] == ["background", "trees", "crops", "roofs"]


def test_segment_refuses_bands_the_raster_lacks(low2high_provider, image, folder):
    """(Its own test: a layer alive in the frame a failed run's traceback holds crashed the exit.)"""
    import processing
    from deepness_models import deepness_model
    from qgis.core import QgsProcessing

    model = deepness_model(os.path.join(folder, "deepness.onnx"))
    with pytest.raises(Exception, match="BANDS names band 7"):
        processing.run("low2high:segment", {"INPUT": image, "MODEL": model, "BANDS": "1,2,7",
                                            "OUTPUT": QgsProcessing.TEMPORARY_OUTPUT})


def test_colour_refinement_parameter_reaches_the_engine(low2high_provider, image, folder, tiny_models):
    import processing
    from qgis.core import QgsApplication, QgsProcessingFeedback

    algorithm = QgsApplication.processingRegistry().algorithmById("low2high:segment")
    parameter = algorithm.parameterDefinition("COLOUR_REFINEMENT")
    assert parameter.options() == ["auto", "on", "off"] and parameter.defaultValue() == "auto"

    class Recording(QgsProcessingFeedback):
        lines: list = []

        def pushInfo(self, info):  # noqa: N802
            self.lines.append(info)

    feedback = Recording()
    target = os.path.join(folder, "refined.tif")
    processing.run("low2high:segment", {"INPUT": image, "MODEL": tiny_models[1], "COLOUR_REFINEMENT": "on",
                                        "TILE_SIZE": 128, "OUTPUT": target}, feedback=feedback)
    assert read(target, 1).shape == (160, 200)
    assert any("Colour refinement" in line for line in feedback.lines)
