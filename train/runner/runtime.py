"""Where and how a training process runs: device, threads, seeds, mixed precision, stopping.

Kept apart from the loops so that ``fit`` and ``pretrain`` behave the same: the same device
rules, the same reproducibility, the same Ctrl-C behaviour and the same out-of-memory message.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Iterator

import numpy as np
import torch

from ...core.devices import resolve_device
from ...core.errors import Low2HighError


def torch_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the process's GPU when there is one, else the CPU (the rule of :mod:`devices`)."""
    if resolve_device(requested, torch.cuda.is_available, "use --device auto or cpu") == "cuda":
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def configure_threads(processes_per_machine: int = 1) -> int:
    """Use every core for intra-op parallelism (shared among the processes of one machine)."""
    threads = max(1, (os.cpu_count() or 1) // max(1, processes_per_machine))
    torch.set_num_threads(threads)
    return threads


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's global generator, for model initialisation."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)


def configure_cuda(device: torch.device, deterministic: bool) -> None:
    """Fast kernels on GPUs (TF32, cuDNN autotuning) unless bitwise reproducibility is asked for."""
    if device.type != "cuda":
        return
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on CUDA when enabled (no loss scaling needed); a no-op on the CPU."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def memory_format_for(model: torch.nn.Module, device: torch.device) -> torch.memory_format:
    """Channels-last (faster convolutions) unless it would corrupt memory.

    torch 2.13's CPU backward of a channels-last 1x1 stride-2 convolution with 3–15 input
    channels writes out of bounds ("double free or corruption"); the U-Net's downsampling
    shortcuts are such convolutions when its width is below 16. Those models stay in the
    default layout on the CPU.
    """
    if device.type == "cpu":
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1) and module.stride != (1, 1) \
                    and 2 < module.in_channels < 16:
                return torch.contiguous_format
    return torch.channels_last


def step_generator(*keys: int) -> np.random.Generator:
    """A numpy generator determined by integers (seed, rank, step, ...): reproducible after resuming."""
    return np.random.default_rng([int(key) for key in keys])


def torch_generator(device: torch.device, *keys: int) -> torch.Generator:
    """A torch generator on ``device`` determined by integers, like :func:`step_generator`."""
    seed = int(step_generator(*keys).integers(2 ** 62))
    return torch.Generator(device=device).manual_seed(seed)


@contextlib.contextmanager
def out_of_memory_advice(batch_size: int, what: str = "batch") -> Iterator[None]:
    """Turn a GPU out-of-memory error into a sentence naming the batch size and a smaller one."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as error:
        smaller = max(1, batch_size // 2)
        raise Low2HighError(f"The GPU ran out of memory with a {what} size of {batch_size}; use a smaller one "
                            f"(e.g. --batch-size {smaller}){' or a smaller crop' if batch_size == 1 else ''}. "
                            f"({str(error).splitlines()[0]})") from None


class StopRequest:
    """Set by Ctrl-C (SIGINT) or SIGTERM: the loop finishes its step, saves and stops.

    A second Ctrl-C stops at once (KeyboardInterrupt). Handlers are installed only in the main
    thread (Python allows no other) and restored when the context ends.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        print("\nStopping after this step; the state will be saved (Ctrl-C again to stop at once).", file=sys.stderr)

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
