"""The Dask cluster a job runs on: worker processes on this machine, or an existing scheduler.

Without a scheduler address a job starts a ``LocalCluster`` of worker *processes* (the GIL and
torch's process-wide thread count rule out threads), each running one raster at a time with an
equal share of the cores (``OMP_NUM_THREADS``), so that workers on one machine do not
oversubscribe it; the job closes it at the end, or when cancelled. Given an address, the job uses
that cluster as it is (workers started by hand, dask-jobqueue, Kubernetes) and leaves it running.

Inside QGIS ``sys.executable`` is the QGIS binary: worker processes are started with the Python
QGIS embeds (:func:`~low2high.core.dependencies.python_executable`) and inherit this
process's ``sys.path`` (multiprocessing's spawn passes it on), so they import the same packages.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from ...core.dependencies import python_executable, require
from ...core.errors import Low2HighError

#: How long to try reaching a scheduler: Dask's own setting when given (the variable below), else 10 s.
CONNECT_TIMEOUT_VARIABLE = "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT"
#: Seconds to wait for a reached scheduler's first worker.
WORKER_WAIT_S = 60
#: Environment variables that size the thread pools of torch, OpenMP, MKL and OpenBLAS in a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def distributed_module() -> Any:
    """``distributed``, or a sentence naming the package and its install command."""
    require("dask", "segment many rasters on a Dask cluster")
    return require("distributed", "segment many rasters on a Dask cluster")


#: Memory a local worker is given room for: its peak was 0.8 GB with the demo model on 4-Mpx rasters
#: (docs/benchmarks.md), and segment's memory does not grow with the raster.
WORKER_MEMORY_BYTES = 1 << 30


def default_workers(cores: Optional[int] = None, free_memory: Optional[int] = None) -> int:
    """Local worker processes by default: one single-threaded worker per core, as many as the free memory holds.

    Measured on 2 cores with 4-Mpx rasters: two single-threaded workers map at 0.99–1.07× the rate of
    one-by-one ``segment`` calls, one two-threaded worker at 0.8× (two torch threads in one task, and a
    predictor per raster, cost it 20 % more CPU).
    """
    cores = cores or os.cpu_count() or 1
    free_memory = _free_memory() if free_memory is None else free_memory
    return max(1, min(cores, free_memory // WORKER_MEMORY_BYTES if free_memory else cores))


def _free_memory() -> int:
    """Memory available to new processes (Linux), or 0 where the system does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def threads_per_worker(workers: int, cores: Optional[int] = None) -> int:
    """Each local worker's share of the cores (at least one)."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


@contextmanager
def job_client(workers: Optional[int] = None, scheduler: Optional[str] = None, gpu: bool = False) -> Iterator[Any]:
    """A Dask client for one job: on the scheduler at ``scheduler``, else on a LocalCluster it closes.

    Args:
        workers: local worker processes (None: :func:`default_workers`); ignored with ``scheduler``.
        scheduler: address of an existing scheduler (``tcp://host:8786``).
        gpu: each local worker offers the resource ``GPU=1`` (tasks ask for one).

    Raises:
        Low2HighError: the scheduler cannot be reached or has no workers (nothing has been written).
    """
    distributed = distributed_module()
    if scheduler:
        client = _connect(distributed, scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    count = workers or default_workers()
    threads = str(threads_per_worker(count))
    with _worker_python():  # for the cluster's whole life: a worker that died is started again
        cluster = distributed.LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.ERROR, env={name: threads for name in THREAD_VARIABLES},
            resources={"GPU": 1} if gpu else None)
        try:
            client = distributed.Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()


def _connect(distributed: Any, address: str) -> Any:
    try:
        client = distributed.Client(address, timeout=os.environ.get(CONNECT_TIMEOUT_VARIABLE, "10s"))
    except (OSError, TimeoutError, ValueError) as error:
        raise Low2HighError(f"Cannot reach the Dask scheduler at '{address}' ({_reason(error)}); start it with "
                            "'dask scheduler' and workers with 'dask worker <address>', or leave the scheduler out "
                            "to use this machine's cores. Nothing was written.") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError) as error:
        client.close()
        raise Low2HighError(f"The Dask scheduler at '{address}' has no workers after {WORKER_WAIT_S} s; start one "
                            f"with 'dask worker {address}'. Nothing was written.") from error
    return client


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:200]


@contextmanager
def _worker_python() -> Iterator[None]:
    """Start worker processes with a real Python interpreter, also when this process is QGIS."""
    interpreter = python_executable()
    if os.path.abspath(interpreter) == os.path.abspath(sys.executable):
        yield
        return
    multiprocessing.set_executable(interpreter)
    try:
        yield
    finally:
        multiprocessing.set_executable(sys.executable)
