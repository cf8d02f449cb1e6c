"""How many forward passes a CPU runs at once, and how many threads each pass gets.

One rule for both backends. Two single-threaded passes beat one pass on two threads on this
project's 2-core CPUs: PyTorch's bf16 (oneDNN scales poorly from one core to two, and one pass's
memory-bound operations overlap the other's convolutions: 3.47 against 2.85 Mpx/s on an Intel
Xeon with AMX) and ONNX Runtime alike (a 2-core AMD EPYC without AMX, width-64 U-Net on
896 × 1088 tiles, seconds per Mpx at load 2.9: fp32 1.89 against 4.74 wall, 1.90 against 3.21
CPU; int8 0.82 against 2.22 wall: a two-threaded session spends much of its time waiting for
its other thread). A single-threaded pass computes the same numbers bit for bit. The price is
memory: two passes hold two sets of activations (:mod:`.planning` budgets for it).
"""
from __future__ import annotations

import os
import sys

#: Forward passes a CPU with at least this many cores runs at once.
CPU_STREAMS = 2


def cpu_cores() -> int:
    """Cores this process may run on (its CPU affinity, so ``taskset`` is honoured)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_threads() -> int:
    """The CPU threads this process's passes share: torch's intra-op count once torch is loaded
    (segment-many's workers set it to their share of the host), else the cores it may run on."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else cpu_cores()


def cpu_streams(cores: int) -> int:
    """How many forward passes to run at once on ``cores`` cores (1 when there is one)."""
    return CPU_STREAMS if cores >= CPU_STREAMS else 1


def threads_per_pass(cores: int, streams: int) -> int:
    """Each concurrent pass's equal share of the cores (at least one)."""
    return max(1, cores // max(1, streams))


def passes_at_once(device: str) -> int:
    """Forward passes the pipeline runs at once on ``device`` (a GPU takes batches instead)."""
    return cpu_streams(cpu_threads()) if device == "cpu" else 1


def onnx_session_threads(device: str) -> int:
    """Intra-op threads of an ONNX Runtime session for ``device`` (0: ONNX Runtime's default)."""
    return threads_per_pass(cpu_threads(), passes_at_once(device)) if device == "cpu" else 0
