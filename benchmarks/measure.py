"""Measuring tools shared by the benchmarks: device rates, model throughput, peak memory."""
from __future__ import annotations

import os
import platform
import time
from typing import Any, Callable

import numpy as np


def best_seconds(step: Callable[[], object], repeats: int = 3, warmup: int = 1,
                 sync: Callable[[], None] = lambda: None) -> float:
    """Fastest of ``repeats`` timed calls after ``warmup`` untimed ones (noise only slows down)."""
    for _ in range(warmup):
        step()
    sync()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        sync()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_gflops(device: str = "cpu", size: int = 2048) -> dict:
    """Measured dense matrix-multiply rate (GFLOP/s): fp32, and bf16 on CUDA."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rates = {}
    for name, dtype in [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if device == "cuda" else []):
        n = size * (4 if device == "cuda" else 1)
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        out = torch.empty(n, n, device=device, dtype=dtype)
        calls = 20 if device == "cuda" else 4

        def multiply(a: Any = a, b: Any = b, out: Any = out, calls: int = calls) -> None:
            for _ in range(calls):
                torch.mm(a, b, out=out)

        seconds = best_seconds(multiply, sync=sync)
        rates[name] = 2 * n ** 3 * calls / seconds / 1e9
    return rates


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    """What the figures were measured on."""
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def random_tiles(batch: int, bands: int, side: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, bands, side, side), dtype=np.float32)
