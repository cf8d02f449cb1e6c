"""Concurrent forward passes on the CPU: the same map as one pass at a time, torch's threads restored."""
import os

import numpy as np
import pytest
from helpers import make_raster, read, scene

from low2high.core.progress import SilentProgress
from low2high.engine.inference.precision import Hardware, cpu_flags
from low2high.engine.inference.segment import SegmentRequest, segment

torch = pytest.importorskip("torch")


@pytest.fixture
def threads():
    """Run with a chosen torch thread count; the caller's count is put back afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _classify(image, folder, model, name):
    """PRECISION bf16: the PyTorch path (fp32 of a .pt runs its ONNX export, one session.run at a time)."""
    log = SilentProgress()
    request = SegmentRequest(image, os.path.join(folder, name), model, tile_size=96, overlap=32, precision="bf16",
                             device="cpu", probabilities_path=os.path.join(folder, "p" + name))
    result = segment(request, log)
    return result, read(result.output_path), read(result.probabilities_path), log.messages


@pytest.mark.skipif(not Hardware("cpu", cpu_flags()).has_bf16, reason="the PyTorch CPU path runs bf16 only")
def test_two_passes_at_once_write_exactly_the_map_of_one_at_a_time(folder, tiny_models, threads):
    pixels, _ = scene(350, 410, seed=4)
    image = make_raster(os.path.join(folder, "image.tif"), pixels)
    threads(1)  # one thread: one stream, each pass on one thread
    single, classes_1, probabilities_1, log_1 = _classify(image, folder, tiny_models[0], "one.tif")
    threads(2)  # two threads: two streams of one thread each, so every pass computes the same numbers
    double, classes_2, probabilities_2, log_2 = _classify(image, folder, tiny_models[0], "two.tif")
    assert not any("passes at once" in line for line in log_1)
    assert any("2 passes at once" in line for line in log_2), log_2

    assert single.stats.tiles > 8, "enough tiles for passes to overlap and finish out of order"
    np.testing.assert_array_equal(classes_2, classes_1)
    np.testing.assert_array_equal(probabilities_2, probabilities_1)
    assert double.stats.computed_pixels == single.stats.computed_pixels
    assert torch.get_num_threads() == 2, "the run put torch's thread count back"


def test_thread_share_is_restored_when_a_run_fails(threads):
    from low2high.engine.inference.torch_speed import cpu_streams, threads_per_stream

    threads(2)
    assert cpu_streams(torch) == 2
    with pytest.raises(RuntimeError), threads_per_stream(torch, 2):
        assert torch.get_num_threads() == 1
        raise RuntimeError("a pass failed")
    assert torch.get_num_threads() == 2
    threads(1)
    assert cpu_streams(torch) == 1, "one core: one pass at a time"


def test_onnx_runs_two_single_threaded_passes_on_two_cores(tiny_models, monkeypatch):
    """ONNX Runtime, like PyTorch: a session of one thread per pass, two passes at once."""
    from low2high.engine.inference import streams
    from low2high.engine.inference.model import load_predictor

    monkeypatch.setattr(streams, "cpu_threads", lambda: 2)
    assert load_predictor(tiny_models[1], "cpu").streams == 2
    assert streams.onnx_session_threads("cpu") == 1
    monkeypatch.setattr(streams, "cpu_threads", lambda: 1)
    assert load_predictor(tiny_models[1], "cpu").streams == 1
    assert streams.onnx_session_threads("cuda") == 0, "a GPU session keeps ONNX Runtime's default"
