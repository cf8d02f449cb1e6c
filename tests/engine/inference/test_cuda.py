"""The CUDA path (pinned buffers, bf16, batches sized to memory); skipped where there is no GPU."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_bf16_on_cuda_agrees_with_fp32_on_cpu(tiny_models):
    from low2high.engine.inference.model import load_predictor

    gpu, cpu = load_predictor(tiny_models[0], "cuda", "bf16"), load_predictor(tiny_models[0], "cpu")
    assert gpu.info.device == "cuda" and gpu.info.precision == "bf16"
    batch = np.random.default_rng(0).standard_normal((4, 4, 256, 256), dtype=np.float32)
    first = gpu.predict(batch)
    second = gpu.predict(batch * 0.5)  # the reused pinned buffers must not leak the previous batch
    assert (first.argmax(1) == cpu.predict(batch).argmax(1)).mean() > 0.98
    assert (second.argmax(1) == cpu.predict(batch * 0.5).argmax(1)).mean() > 0.98


def test_gpu_batches_fill_a_share_of_free_memory():
    from low2high.engine.inference.planning import MAX_GPU_BATCH, gpu_batch_size

    assert 1 <= gpu_batch_size(1024, 850.0) <= MAX_GPU_BATCH
    assert gpu_batch_size(1024, 1e12) == 1
