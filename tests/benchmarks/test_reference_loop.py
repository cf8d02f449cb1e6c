"""The yardstick of ``make bench``: the plain tiling loop draws the map Deepness draws."""
import os

import pytest
from deepness_models import deepness_model, rgb_network
from deepness_rules import deepness_map, load_default_parameters
from helpers import make_raster, read, scene

from low2high.benchmarks.reference_loop import plain_session, reference_loop

pytest.importorskip("onnx")


def test_the_plain_loop_runs_deepness_models_by_deepness_rules(folder, tmp_path):
    model = deepness_model(str(tmp_path / "landcover.onnx"), rgb_network())
    pixels, _ = scene(718, 949, bands=4, seed=3)  # 3 × 4 Deepness tiles: it pads standardised zeros, not black
    image = make_raster(os.path.join(folder, "image.tif"), pixels)
    output = os.path.join(folder, "loop.tif")
    reference_loop(image, model, output, tile=256, overlap=25)
    assert (read(output) == deepness_map(model, pixels[:3], load_default_parameters(model))).all()


def test_the_plain_loop_runs_with_onnx_runtimes_own_thread_count(tmp_path):
    """A yardstick held to one thread (segment's per-pass sessions) would flatter segment's ratios."""
    session = plain_session(deepness_model(str(tmp_path / "landcover.onnx"), rgb_network()))
    assert session.get_session_options().intra_op_num_threads == 0
