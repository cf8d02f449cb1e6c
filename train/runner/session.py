"""One training run from start to end, shared by ``fit`` and ``pretrain``.

Both commands do the same around their own task: check the paths, join the torchrun process
group, prepare (or resume) the run folder on rank 0 while the others wait, run the resumable epoch
loop under Ctrl-C handling, record the weight hash of every rank, and always leave the process
group. Only the task and what the run returns differ.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress
from .distributed import Distributed, barrier, init_distributed, shutdown, write_weight_hash
from .folder import RunFolder
from .loop import EpochLoop, LoopSettings
from .runtime import StopRequest, configure_cuda, configure_threads

GPU_WORKERS = 4
_PATH_FIELDS = ("dataset", "output", "init", "exemplar_raster")


def absolute_paths(config: Any) -> Any:
    """Paths made absolute, so the run folder recognises its config from any working directory."""
    paths = {name: os.path.abspath(getattr(config, name)) for name in _PATH_FIELDS
             if getattr(config, name, "")}
    return dataclasses.replace(config, **paths)


def run_training(kind: str, config: Any, make_task: Callable[[Any, Distributed, RunFolder, Progress], Any],
                 resumable: Sequence[str], outputs: Sequence[str],
                 finish: Callable[[Any, RunFolder, list, Distributed], Any],
                 progress: Optional[Progress] = None, stop: Optional[StopRequest] = None) -> Any:
    """Run (or continue) one training run and return what ``finish`` makes of it.

    Args:
        kind: The command's name ("fit", "pretrain"), for messages and the run folder.
        config: Its settings (a dataclass with dataset, output, device, epochs, ... fields).
        make_task: Builds the task (networks, data, steps) once the folder is ready.
        resumable, outputs: What the run folder may see change on resume, and the files it owns.
        finish: Turns (task, folder, history, context) into the result, on every rank.
        progress: Log lines (rank 0 only); silent by default.
        stop: A stop request to honour (default: Ctrl-C / SIGTERM of this process).
    """
    for name in ("dataset", "output"):
        if not getattr(config, name):
            raise Low2HighError(f"{kind} needs --{name}; give it (see --help).")
    config = absolute_paths(config)
    context = init_distributed(config.device)
    try:
        log = (progress or SilentProgress()) if context.is_main else SilentProgress()
        configure_threads(context.local_world_size)
        configure_cuda(context.device, config.deterministic)
        folder = RunFolder(config.output, config, kind, resumable, outputs)
        folder.check(config.restart)
        # the task reads and checks the dataset and settings: a mistake stops here, before the folder is touched
        task = make_task(config, context, folder, log)
        barrier(context)  # every rank has read the folder before rank 0 changes it
        with folder.locked(take=context.is_main):
            if context.is_main:
                folder.check(config.restart, locked_here=True)  # again under the lock: another run may have begun
                folder.prepare(config.restart)
            barrier(context)
            workers = config.num_workers if config.num_workers is not None else \
                (GPU_WORKERS if context.device.type == "cuda" else 0)
            settings = LoopSettings(config.epochs, config.batch_size, workers, config.seed, config.steps_per_epoch,
                                    config.progress, config.save_every_minutes)
            with stop or StopRequest() as stop_request:
                loop = EpochLoop(task, task.train_data, settings, folder, context, log, stop_request)
                if loop.resume():
                    log.info(resume_message(folder.folder, loop.position.epoch, loop.position.batches, config.epochs))
                history = loop.run()
            write_weight_hash(task.model, folder.folder, context)
            result = finish(task, folder, history, context)
            barrier(context)
        return result
    finally:
        shutdown(context)


def resume_message(folder: str, epochs_done: int, batches: int, epochs: int) -> str:
    """What a resumed run says, numbering epochs as the stop message did ("in epoch 3 after batch 5")."""
    if epochs_done >= epochs:
        return f"The run in {folder} has already trained {epochs_done} epochs; raise --epochs to train more."
    if batches:
        return f"Continuing the run in {folder} in epoch {epochs_done + 1} after batch {batches}."
    return f"Continuing the run in {folder} after epoch {epochs_done}."


def mean_chips_per_s(history: Sequence[dict[str, Any]]) -> float:
    """Mean training throughput over a run's epochs (all processes together); NaN before any."""
    rates = [record["chips_per_s"] for record in history]
    return float(np.mean(rates)) if rates else math.nan
