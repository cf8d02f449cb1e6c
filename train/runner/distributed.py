"""Multi-process training under ``torchrun``: process group, DDP wrapping, reductions, rank 0 writes.

``torchrun --nproc_per_node=8 -m low2high.train fit ...`` starts one process per GPU and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE``; a plain ``python -m
low2high.train fit`` is a world of one and uses none of this machinery. Backends: NCCL between
GPUs, Gloo between CPU processes.

Conventions the loops follow: every rank computes, rank 0 alone writes files, logs and progress
bars; metrics are summed over ranks (confusion matrices, loss sums); checkpoints are written
between barriers so no rank reads or races ahead of a half-written file.

Test hook: with ``LOW2HIGH_WRITE_WEIGHT_HASHES=1`` in the environment, every rank writes the
SHA-256 of its final weights to ``weights_rank<r>.sha256`` in the output folder, so a test can
check that all ranks hold identical weights.
"""
from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .runtime import torch_device

HASH_ENV = "LOW2HIGH_WRITE_WEIGHT_HASHES"


@dataclass
class Distributed:
    """This process's place in the run.

    Attributes:
        rank: Global rank (0 writes files).
        world_size: Number of processes.
        local_rank: Rank on this machine (selects the GPU).
        local_world_size: Processes on this machine (shares the CPU threads).
        device: The device this process trains on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def init_distributed(device: str = "auto") -> Distributed:
    """Read the torchrun environment, pick the device and join the process group if needed."""
    world = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", 0)
    context = Distributed(rank=_env_int("RANK", 0), world_size=world, local_rank=local_rank,
                          local_world_size=_env_int("LOCAL_WORLD_SIZE", world),
                          device=torch_device(device, local_rank))
    if context.enabled and not dist.is_initialized():
        backend = "nccl" if context.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                                device_id=context.device if backend == "nccl" else None)
    return context


def shutdown(context: Distributed) -> None:
    """Leave the process group cleanly (no-op for a world of one)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, context: Distributed) -> nn.Module:
    """DistributedDataParallel around ``model`` when there are several processes (else ``model``).

    Buffers (BatchNorm statistics) are broadcast from rank 0 at every forward, so all ranks see
    the same normalisation; :func:`sync_buffers` aligns them once more before saving.
    """
    if not context.enabled:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def barrier(context: Distributed) -> None:
    if context.enabled:
        dist.barrier()


def sync_buffers(model: nn.Module, context: Distributed) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    if context.enabled:
        for buffer in unwrap(model).buffers():
            dist.broadcast(buffer.data, src=0)


def all_reduce_sum(values: np.ndarray, context: Distributed) -> np.ndarray:
    """Element-wise sum of an array over all ranks (float64 or int64, exact for counts)."""
    if not context.enabled:
        return values
    dtype = torch.int64 if np.issubdtype(values.dtype, np.integer) else torch.float64
    tensor = torch.from_numpy(np.ascontiguousarray(values)).to(dtype)
    if context.device.type == "cuda":
        tensor = tensor.to(context.device)
    dist.all_reduce(tensor)
    return tensor.cpu().numpy().astype(values.dtype, copy=False)


def any_rank(flag: bool, context: Distributed) -> bool:
    """True on every rank when ``flag`` is True on at least one (e.g. a stop request)."""
    if not context.enabled:
        return flag
    return bool(all_reduce_sum(np.array([int(flag)], np.int64), context)[0] > 0)


def shard(count: int, context: Distributed) -> list[int]:
    """This rank's share of ``count`` items (every world_size-th), for evaluation."""
    return list(range(context.rank, count, context.world_size))


def weights_hash(model: nn.Module) -> str:
    """SHA-256 over the names and bytes of a network's parameters and buffers."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unwrap(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def write_weight_hash(model: nn.Module, folder: str, context: Distributed) -> Optional[str]:
    """The test hook described in the module docstring (does nothing unless enabled)."""
    if os.environ.get(HASH_ENV) != "1":
        return None
    path = os.path.join(folder, f"weights_rank{context.rank}.sha256")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(weights_hash(model) + "\n")
    return path
