"""benchmarks.finetune runs for minutes per fine-tuning run: it says how many are done and the time left."""
import os
import re
import subprocess
import sys

import pytest

from low2high.train.benchmarks.finetune import WV


@pytest.mark.skipif(not os.path.isdir(WV), reason="needs ../shared/data/wv_naip_dev")
def test_the_finetune_benchmark_logs_runs_done_and_the_time_left(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "low2high.train.benchmarks.finetune", "--parts", "hand", "--seeds", "0,1",
         "--steps", "1", "--threads", "1", "--work", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    counted = [line.strip() for line in completed.stdout.splitlines() if "fine-tuning runs" in line]
    assert len(counted) == 1 and re.fullmatch(r"1/2 fine-tuning runs, about \d+ (s|min \d+ s) left\.", counted[0])
    written = sorted(name for name in os.listdir(tmp_path) if name.startswith(("results", ".")))
    assert written == ["results_hand_default.json", "results_hand_default.md"]  # published together, nothing hidden


def test_the_benchmark_scores_the_map_segment_writes_refined_and_sieved_as_the_card_says(tmp_path):
    """The bundled demo model's card refines by colour and keeps 100 m² patches; copies whose cards
    keep every patch, or do not refine, give the maps segment writes for them."""
    import dataclasses

    import numpy as np
    from helpers import REPO_ROOT
    from osgeo import gdal

    from low2high.engine.inference.model import DEMO_MODEL
    from low2high.engine.labels.mapping_unit import sieve_classes
    from low2high.models.checkpoint import load_checkpoint, save_checkpoint
    from low2high.train.benchmarks.finetune import predict

    demo = load_checkpoint(DEMO_MODEL)
    assert demo.card.min_mapping_unit == 100 and demo.card.colour_refinement
    every_patch, unrefined = str(tmp_path / "every_patch.pt"), str(tmp_path / "unrefined.pt")
    save_checkpoint(every_patch, demo.build_model(), dataclasses.replace(demo.card, min_mapping_unit=0.0))
    save_checkpoint(unrefined, demo.build_model(), dataclasses.replace(demo.card, colour_refinement=False))
    pixels = gdal.Open(os.path.join(REPO_ROOT, "resources", "sample", "naip_sample.tif")).ReadAsArray(0, 0, 256, 256)
    unsieved = predict(every_patch, pixels)
    assert np.array_equal(predict(DEMO_MODEL, pixels), sieve_classes(unsieved, 100))
    assert not np.array_equal(predict(DEMO_MODEL, pixels), unsieved), "the unit changes this map"
    assert (predict(unrefined, pixels) != predict(DEMO_MODEL, pixels)).mean() > 0.05, "the refinement changes it"
    assert demo.card.input_statistics == "blend"
    as_trained = str(tmp_path / "as_trained.pt")
    save_checkpoint(as_trained, demo.build_model(), dataclasses.replace(demo.card, input_statistics="model"))
    assert (predict(as_trained, pixels) != predict(DEMO_MODEL, pixels)).any(), "segment's blend feeds the demo"
