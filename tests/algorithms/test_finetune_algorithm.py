"""low2high:finetune inside real QGIS: Processing, a polygon layer in another CRS, the modeler, qgis_process."""
import json
import os
import subprocess

import pytest
from finetune_helpers import make_tune_scene, polygon_layer
from helpers import ORIGIN, REPO_ROOT, read

FAST = {"STEPS": 3, "BATCH_SIZE": 2, "DEVICE": "cpu", "VALIDATION_SHARE": 0.0}


@pytest.fixture
def tune(folder):
    return make_tune_scene(folder)




def test_loss_options_are_the_training_modes_table_in_their_saved_order(low2high_provider):
    """QGIS's LOSS enum is read from low2high.train.modes; graphical models store its option numbers."""
    from qgis.core import QgsApplication

    from low2high.train.modes import FINETUNE_LOSSES

    parameter = QgsApplication.processingRegistry().algorithmById("low2high:finetune").parameterDefinition("LOSS")
    assert parameter.options() == list(FINETUNE_LOSSES) == ["low", "agg", "agg+adv", "agg-dist", "agg-dist+adv",
                                                            "low-dist", "low-dist+adv"]
    assert parameter.defaultValue() == "agg" and parameter.usesStaticStrings()


def test_finetune_with_processing_run_areas_in_wgs84_map_and_plot(low2high_provider, tune, folder):
    import processing
    from qgis.core import QgsRasterLayer

    from low2high.models.checkpoint import load_checkpoint

    areas = polygon_layer(tune["areas"], epsg=4326)
    outputs = {name: os.path.join(folder, file) for name, file in
               (("OUTPUT_MODEL", "tuned.pt"), ("OUTPUT_MAP", "map.tif"), ("OUTPUT_PLOT", "curve.png"))}
    result = processing.run("low2high:finetune", {"INPUT": tune["image"], "LOW_RES_LABELS": tune["labels"],
                                                  "AREAS": areas, "MODEL": tune["model"], **FAST, **outputs})
    assert result == outputs
    card = load_checkpoint(outputs["OUTPUT_MODEL"]).card
    assert card.training["finetune"]["taxonomy"] == "nlcd" and card.training["finetune"]["steps"] == 3
    assert os.path.exists(os.path.join(folder, "tuned.onnx"))
    layer = QgsRasterLayer(outputs["OUTPUT_MAP"], "map")
    assert layer.isValid() and layer.renderer().type() == "paletted"
    assert open(outputs["OUTPUT_PLOT"], "rb").read(4) == b"\x89PNG"


def test_finetune_then_segment_in_a_graphical_model(low2high_provider, tune, folder):
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFeatureSource,
        QgsProcessingParameterRasterDestination,
        QgsProcessingParameterRasterLayer,
    )
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    model = QgsProcessingModelAlgorithm("adapt and map", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("image", "Image"), QgsProcessingModelParameter("image"))
    model.addModelParameter(QgsProcessingParameterRasterLayer("nlcd", "NLCD"), QgsProcessingModelParameter("nlcd"))
    model.addModelParameter(QgsProcessingParameterFeatureSource("areas", "Areas"), QgsProcessingModelParameter("areas"))
    tune_step = QgsProcessingModelChildAlgorithm("low2high:finetune")
    tune_step.setChildId("finetune")
    for name, parameter in (("INPUT", "image"), ("LOW_RES_LABELS", "nlcd"), ("AREAS", "areas")):
        tune_step.addParameterSources(name, [Source.fromModelParameter(parameter)])
    for name, value in {"MODEL": tune["model"], "OUTPUT_MODEL": os.path.join(folder, "step.pt"), **FAST}.items():
        tune_step.addParameterSources(name, [Source.fromStaticValue(value)])
    model.addChildAlgorithm(tune_step)
    segment_step = QgsProcessingModelChildAlgorithm("low2high:segment")
    segment_step.setChildId("segment")
    segment_step.addParameterSources("INPUT", [Source.fromModelParameter("image")])
    segment_step.addParameterSources("MODEL", [Source.fromChildOutput("finetune", "OUTPUT_MODEL")])
    output = QgsProcessingModelOutput("landcover", "Land cover")
    output.setChildOutputName("OUTPUT")
    segment_step.setModelOutputs({"landcover": output})
    model.addChildAlgorithm(segment_step)
    model.addModelParameter(QgsProcessingParameterRasterDestination("segment:landcover", "Land cover"),
                            QgsProcessingModelParameter("segment:landcover"))
    target = os.path.join(folder, "chained.tif")
    result = processing.run(model, {"image": tune["image"], "nlcd": tune["labels"],
                                    "areas": polygon_layer(tune["areas"]), "segment:landcover": target})
    assert result["segment:landcover"] == target and read(target, 1).shape == (128, 128)


def test_bad_input_is_a_processing_error_and_leaves_nothing(low2high_provider, tune, folder):
    import processing
    from qgis.core import QgsProcessingException

    before = sorted(os.listdir(folder))
    with pytest.raises(QgsProcessingException, match="would overwrite an input"):
        processing.run("low2high:finetune", {"INPUT": tune["image"], "LOW_RES_LABELS": tune["labels"],
                                             "AREAS": polygon_layer(tune["areas"]), "MODEL": tune["model"],
                                             "OUTPUT_MODEL": tune["model"], **FAST})
    far = polygon_layer([f"POLYGON(({ORIGIN[0] + 9000} {ORIGIN[1]},{ORIGIN[0] + 9100} {ORIGIN[1]},"
                         f"{ORIGIN[0] + 9100} {ORIGIN[1] - 100},{ORIGIN[0] + 9000} {ORIGIN[1]}))"])
    with pytest.raises(QgsProcessingException, match="lie outside INPUT"):
        processing.run("low2high:finetune", {"INPUT": tune["image"], "LOW_RES_LABELS": tune["labels"], "AREAS": far,
                                             "MODEL": tune["model"], "OUTPUT_MODEL": os.path.join(folder, "o.pt"),
                                             **FAST})
    assert sorted(os.listdir(folder)) == before


def test_cancel_in_the_middle_leaves_no_model(low2high_provider, tune, folder):
    import processing
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAtStep(QgsProcessingFeedback):
        def pushInfo(self, info):  # noqa: N802 (QGIS's name)
            super().pushInfo(info)
            if info.startswith("step "):
                self.cancel()

    before = sorted(os.listdir(folder))
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        processing.run("low2high:finetune", {"INPUT": tune["image"], "LOW_RES_LABELS": tune["labels"],
                                             "AREAS": polygon_layer(tune["areas"]), "MODEL": tune["model"],
                                             "OUTPUT_MODEL": os.path.join(folder, "o.pt"),
                                             **{**FAST, "STEPS": 40}}, feedback=CancelAtStep())
    assert sorted(os.listdir(folder)) == before


def test_qgis_process_runs_finetune(tune, folder):
    areas = os.path.join(folder, "areas.geojson")
    with open(areas, "w", encoding="utf-8") as handle:  # GeoJSON is WGS 84: the polygons are reprojected
        json.dump({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[-76.96095, 38.92241], [-76.95966, 38.92241], [-76.95966, 38.92145],
                                                [-76.96095, 38.92145], [-76.96095, 38.92241]]]}}]}, handle)
    target = os.path.join(folder, "cli.pt")
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"),
                       QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "--json", "run", "low2high:finetune", "--",
         f"INPUT={tune['image']}", f"LOW_RES_LABELS={tune['labels']}", "LABEL_TAXONOMY=nlcd", f"AREAS={areas}",
         f"MODEL={tune['model']}", "STEPS=2", "BATCH_SIZE=2", "DEVICE=cpu", "VALIDATION_SHARE=0",
         f"OUTPUT_MODEL={target}"], capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert report["results"]["OUTPUT_MODEL"] == target and os.path.exists(target)
