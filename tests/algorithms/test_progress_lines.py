"""qgis_process: a log line written during a run starts a line of its own, not after the progress dots.

qgis_process draws progress as dots without a line break ("0...10...20"); finetune's step line
came out as "0...10...20...30...40...50...60...70...80...90.step 10/10: loss ...".
"""
import json
import os
import re
import subprocess

from finetune_helpers import make_tune_scene
from helpers import REPO_ROOT

DOTS = re.compile(r"^[0-9.]*(100 - done\.)?$")  # a line of dots and percents alone


def test_qgis_process_log_lines_do_not_continue_the_progress_dots(folder):
    tune = make_tune_scene(folder)
    areas = os.path.join(folder, "areas.geojson")
    with open(areas, "w", encoding="utf-8") as handle:  # over most of the scene (GeoJSON: WGS 84)
        json.dump({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
            "type": "Polygon", "coordinates": [[[-76.96095, 38.92241], [-76.95966, 38.92241], [-76.95966, 38.92145],
                                                [-76.96095, 38.92145], [-76.96095, 38.92241]]]}}]}, handle)
    environment = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=os.path.join(folder, "qgis-profile"),
                       QT_QPA_PLATFORM="offscreen")
    environment.pop("QGIS_PLUGINPATH", None)
    completed = subprocess.run(
        [os.path.join(REPO_ROOT, "scripts", "qgis_process"), "run", "low2high:finetune", "--",
         f"INPUT={tune['image']}", f"LOW_RES_LABELS={tune['labels']}", "LABEL_TAXONOMY=nlcd",
         f"AREAS={areas}", f"MODEL={tune['model']}", "STEPS=10", "BATCH_SIZE=2",
         "DEVICE=cpu", "VALIDATION_SHARE=0", f"OUTPUT_MODEL={os.path.join(folder, 'tuned.pt')}"],
        capture_output=True, text=True, env=environment, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    step = next(line for line in lines if "step 10/10" in line)
    assert step.startswith("step 10/10: loss"), step
    dotted = [line for line in lines if "." in line and DOTS.fullmatch(line)]  # lines of dots and percents alone
    # every dot is on such a line: none continued into (or after) a log line
    assert "".join(dotted).replace(" - done.", "") == "0...10...20...30...40...50...60...70...80...90...100", lines
