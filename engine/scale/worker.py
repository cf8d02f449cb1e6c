"""What runs on a Dask worker: one raster mapped by segment's engine, with the model opened once per worker.

Imported by worker processes (Dask pickles :func:`map_raster` by name), and by the job only once
Dask is known to be installed: it subclasses ``distributed.WorkerPlugin``.
"""
from __future__ import annotations

import os
import socket
import time
from functools import lru_cache

from distributed import WorkerPlugin

from ...core.errors import Low2HighError
from ...core.progress import SilentProgress
from ..inference.model import Model, open_model
from ..inference.segment import segment_with
from .cluster import threads_per_worker
from .jobs import DONE, FAILED, MapSettings, Outcome, RasterTask, output_name


@lru_cache(maxsize=4)
def ready_model(settings: MapSettings) -> Model:
    """The job's model opened in this process, once (segment's engine entry point then runs it per raster).

    Cached per process and settings, so a worker pays it at start (:class:`ModelOnWorker`) and
    never again per raster.
    """
    return open_model(settings.model_path, settings.device)


def map_raster(task: RasterTask, settings: MapSettings) -> Outcome:
    """Map one raster (or one window of a split raster) exactly as ``segment`` maps it alone; a user's
    problem becomes a failed outcome.

    Anything else (a bug, a lost worker) is raised, for Dask to retry elsewhere or report.
    """
    from .windows import map_window

    started, cpu = time.time(), time.process_time()
    progress = SilentProgress()
    try:
        model = ready_model(settings)
        if task.window is not None:
            outcome = map_window(model, task, settings, progress)
        else:
            result = segment_with(model, settings.request(task.input_path, task.output_path), progress)
            outcome = Outcome(task.stem, task.input_path, DONE, output_name(task.stem), pixels=result.region.size,
                              seconds=round(result.stats.seconds, 3),
                              shares={name: round(share, 6) for name, share in result.class_shares().items()},
                              precision=result.model.precision, size=task.size, mtime_ns=task.mtime_ns)
        outcome.message = " ".join(progress.warnings)
    except Low2HighError as error:
        outcome = Outcome(task.stem, task.input_path, FAILED, pixels=task.pixels, message=str(error), size=task.size,
                          mtime_ns=task.mtime_ns, parent=task.parent)
    outcome.worker = f"{socket.gethostname()}:{os.getpid()}"
    outcome.started, outcome.finished = started, time.time()
    outcome.cpu_seconds = round(time.process_time() - cpu, 3)
    return outcome


class ModelOnWorker(WorkerPlugin):
    """Readies the job's model when a worker joins (and again when a lost worker is replaced), and gives
    the worker its share of its machine's cores.

    Dask starts workers with ``OMP_NUM_THREADS=1``, which would leave a lone worker on a 16-core
    machine one core; torch's own default (every core) would make four workers there run 64
    threads. So each worker takes cores / (the job's workers on its host) torch threads.
    """

    name = "low2high-model"

    def __init__(self, settings: MapSettings, workers_by_host: dict[str, int]) -> None:
        self.settings = settings
        self.workers_by_host = workers_by_host

    def setup(self, worker) -> None:  # noqa: ANN001 (distributed.Worker)
        model = ready_model(self.settings)
        if model.kind == "torch":
            import torch

            torch.set_num_threads(threads_per_worker(self.workers_by_host.get(worker.ip, 1)))
