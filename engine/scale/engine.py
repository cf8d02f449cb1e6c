"""``segment-many``: map many rasters as one resumable job on a Dask cluster.

The order of a job is what makes it safe: everything that can be refused is refused before
anything is written (the settings, the model, the output folder, every input, the scheduler);
then the folder is locked against a second job, the manifest is checked against this job (another
model or other settings: refused), the maps to write are recorded in it, and only then do workers
start writing, each map published atomically by ``segment`` itself. The first raster runs alone: a
model that cannot run fails once rather than on every worker, and PRECISION auto is decided (and
cached per machine) before workers race to measure it, so every map of a job uses one precision.
"""
from __future__ import annotations

import os
import time
import uuid
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ...core.contract import INPUT_STATISTICS
from ...core.destinations import check_writable_folder
from ...core.errors import Cancelled, Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled, time_left
from ..inference.model import open_model
from ..inference.model_cache import file_digest
from ..inference.precision import PRECISIONS
from ..labels.colour_refinement import check_refinement
from .cluster import distributed_module, job_client
from .folder_lock import folder_locked
from .inputs import expand_inputs, plan_rasters
from .jobs import BAD_INPUT, DONE, FAILED, MapSettings, Outcome, RasterTask, map_files
from .manifest import MOSAIC_NAME, SUMMARY_NAME, Manifest
from .summary import write_summary
from .windows import assemble, split

#: Seconds between looks at the running rasters (and at the cancel button).
POLL_S = 0.2


@dataclass
class JobRequest:
    """One segment-many job (the command's and the algorithm's parameters)."""

    inputs: Sequence[str]  # rasters, folders, glob patterns, or text files listing rasters
    output_dir: str
    settings: MapSettings = field(default_factory=MapSettings)
    workers: Optional[int] = None  # local worker processes (None: one per core, within free memory)
    scheduler: Optional[str] = None  # an existing scheduler's address instead
    strict: bool = False  # stop at the first bad input or failed raster


@dataclass
class JobReport:
    outcomes: list[Outcome]
    mapped_now: int
    mapped_before: int
    mosaic: str
    summary: str
    seconds: float

    @property
    def problems(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status != DONE]


def segment_many(request: JobRequest, progress: Optional[Progress] = None, client: Any = None) -> JobReport:
    """Map every input raster into ``request.output_dir`` (see the module).

    Args:
        request: the job.
        progress: log, progress and cancellation.
        client: a Dask client to run on (tests); by default one on the job's own cluster.

    Raises:
        Low2HighError: a refusal, as one sentence (nothing written), or ``--strict`` stopping.
        Cancelled: the user cancelled; finished maps stay, and the next run resumes.
    """
    progress = progress or SilentProgress()
    started = time.perf_counter()
    distributed_module()  # a missing package is named before anything else
    settings = request.settings
    _check_settings(settings)
    model = open_model(settings.model_path, "cpu").info  # its card: bands and classes (workers resolve the device)
    model_path = model.path
    output_dir = os.path.abspath(request.output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise Low2HighError(f"The output folder '{request.output_dir}' is a file; give a folder.")
    check_writable_folder(output_dir, "output folder")
    plan = plan_rasters(expand_inputs(request.inputs), output_dir, model, settings.bands)
    _stop_if_strict(request, plan.refused)
    if not plan.tasks:
        first = plan.refused[0]
        raise Low2HighError(f"None of the {len(plan.refused)} inputs can be mapped; the first, '{first.input_path}': "
                            f"{first.message}.")
    opened = nullcontext(client) if client is not None else job_client(
        request.workers, request.scheduler, gpu=settings.device == "cuda")
    with opened as dask_client:  # an unreachable scheduler is refused here, before anything is written
        os.makedirs(output_dir, exist_ok=True)
        with folder_locked(output_dir):
            manifest = Manifest.open(output_dir, file_digest(model_path), os.path.basename(model_path), settings)
            if not manifest.existed:
                _refuse_foreign_job_files(output_dir)
            todo, refused = _to_map(plan.tasks, manifest, output_dir)
            refused = plan.refused + refused
            _stop_if_strict(request, refused)
            before = len(plan.tasks) - len(todo) - (len(refused) - len(plan.refused))
            if not todo and not before:  # e.g. the output folder is the inputs' own: write nothing there
                first = refused[0]
                raise Low2HighError(f"None of the {len(refused)} inputs can be mapped; the first, "
                                    f"'{first.input_path}': {first.message}.")
            progress.info(f"{len(plan.tasks) + len(plan.refused)} inputs: {before} mapped by an earlier run, "
                          f"{len(todo)} to map, {len(refused)} refused (see the summary).")
            for outcome in refused:
                progress.warn(f"{os.path.basename(outcome.input_path)}: {outcome.message}.")
            windows = {task.stem: split(task, settings.window, output_dir) for task in todo}
            pieces = [piece for task in todo for piece in windows[task.stem]
                      if not (piece.parent and manifest.finished(piece))]  # a split raster's done windows stay
            manifest.claim([*todo, *pieces])
            _run(dask_client, pieces, settings, manifest, progress, request.strict)
            for task in todo:
                if windows[task.stem][0].parent:
                    done = [manifest.rasters[piece.stem] for piece in windows[task.stem]]
                    manifest.record(assemble(task, done, output_dir, model.class_names))
            outcomes = _in_order(plan.order, plan.tasks, manifest, refused)
            mosaic, summary = write_summary(output_dir, outcomes, model.class_names, progress)
    report = JobReport(outcomes, len(todo), before, mosaic, summary, time.perf_counter() - started)
    failed = sum(outcome.status == FAILED for outcome in outcomes)
    progress.info(f"Mapped {len(todo) - failed} rasters in {report.seconds:.1f} s ({before} earlier); "
                  f"{failed} failed, {len(refused)} refused; summary: {summary}"
                  + (f"; mosaic: {mosaic}." if mosaic else "."))
    return report


def _check_settings(settings: MapSettings) -> None:
    """The settings every raster would refuse, refused once (the same sentences as segment's)."""
    if settings.precision not in PRECISIONS:
        raise Low2HighError(f"PRECISION must be one of {', '.join(PRECISIONS)} (got '{settings.precision}').")
    if settings.input_statistics not in INPUT_STATISTICS:
        raise Low2HighError(f"INPUT_STATISTICS must be one of {', '.join(INPUT_STATISTICS)} "
                            f"(got '{settings.input_statistics}').")
    check_refinement(settings.colour_refinement)


def _stop_if_strict(request: JobRequest, refused: Sequence[Outcome]) -> None:
    if request.strict and refused:
        first = refused[0]
        raise Low2HighError(f"'{first.input_path}' cannot be mapped: {first.message}; with --strict the job stops "
                            "at the first bad input, and nothing was mapped.")


def _refuse_foreign_job_files(output_dir: str) -> None:
    """A folder without a manifest must not hold a mosaic or summary of someone else's: they would be replaced."""
    for name in (MOSAIC_NAME, SUMMARY_NAME, os.path.splitext(MOSAIC_NAME)[0] + ".qml"):
        if os.path.exists(os.path.join(output_dir, name)):
            raise Low2HighError(f"The output folder '{output_dir}' already holds '{name}', which no segment-many job "
                                "wrote there; choose an empty or new output folder (nothing was written).")


def _to_map(tasks: Sequence[RasterTask], manifest: Manifest, output_dir: str) -> tuple[list[RasterTask], list[Outcome]]:
    """The rasters still to map, and those refused because a file of their map belongs to someone else."""
    todo, refused = [], []
    for task in tasks:
        if manifest.finished(task):
            continue
        foreign = [name for name in map_files(task.stem) if os.path.lexists(os.path.join(output_dir, name))]
        if foreign and not manifest.owns(task.stem):
            refused.append(Outcome(task.stem, task.input_path, BAD_INPUT, message=(
                f"'{foreign[0]}' already exists in the output folder and this job did not write it, so it is left "
                "alone; move it, or choose another output folder")))
            continue
        todo.append(task)
    return todo, refused


def _run(client: Any, tasks: Sequence[RasterTask], settings: MapSettings, manifest: Manifest, progress: Progress,
         strict: bool) -> None:
    """Map ``tasks`` on the cluster, recording each outcome in the manifest as it arrives."""
    if not tasks:
        return
    from .worker import ModelOnWorker, map_raster

    plugin = ModelOnWorker(settings, _workers_by_host(client))
    try:
        client.register_plugin(plugin)
    except Exception as error:  # raised on the workers: they cannot import or load what the job needs
        raise Low2HighError(f"The Dask workers cannot prepare the model ({type(error).__name__}: {error}); every "
                            "worker needs Low2High and its packages installed and the model file at the same path.") \
            from error
    resources = {"GPU": 1} if settings.device == "cuda" else None
    if resources and not _offers_a_gpu(client):
        raise Low2HighError("DEVICE cuda gives each raster a worker resource GPU=1, and no worker of the cluster "
                            "offers one (they would wait forever): start one worker per GPU with 'dask worker "
                            "<address> --nthreads 1 --resources GPU=1' and CUDA_VISIBLE_DEVICES set to its GPU.")
    total_pixels = sum(task.pixels for task in tasks)
    done_pixels, done_count, started = 0, 0, time.perf_counter()
    waiting = list(tasks)
    run = uuid.uuid4().hex[:8]  # keys unique to this run: a client may run several jobs
    unit = "rasters and windows" if any(task.parent for task in tasks) else "rasters"
    in_flight: dict[Any, RasterTask] = {}

    def submit(batch: Sequence[RasterTask]) -> None:
        for task in batch:
            future = client.submit(map_raster, task, settings, key=f"low2high-segment-{task.stem}-{run}",
                                   resources=resources, pure=False)
            in_flight[future] = task

    submit([waiting.pop(0)])  # the pilot (see the module)
    try:
        while in_flight:
            check_canceled(progress)
            finished = [future for future in in_flight if future.done()]
            if not finished:
                time.sleep(POLL_S)
                continue
            for future in finished:
                task = in_flight.pop(future)
                outcome = _outcome(future, task)
                manifest.record(outcome)
                done_count += 1
                done_pixels += task.pixels
                progress.set_fraction(done_pixels / max(total_pixels, 1))
                elapsed = time.perf_counter() - started
                eta = time_left(done_pixels, total_pixels, elapsed)
                what = f"done in {outcome.seconds:.1f} s" if outcome.status == DONE else f"FAILED: {outcome.message}"
                progress.info(f"{done_count}/{len(tasks)} {unit} ({done_pixels / 1e6:,.1f} of "
                              f"{total_pixels / 1e6:,.1f} Mpx): {task.stem} {what}" + (f"; {eta}." if eta else "."))
                if strict and outcome.status != DONE:
                    raise Low2HighError(f"'{task.input_path}' failed: {outcome.message} With --strict the job stops "
                                        "at the first failure; the maps finished so far stay, and the same command "
                                        "without --strict resumes.")
            if waiting:
                submit(waiting)
                waiting = []
    except Cancelled:
        raise Cancelled("Cancelled by the user; the maps finished so far stay, and the same job started again "
                        "maps only the rest.") from None
    finally:
        if in_flight:
            with suppress(Exception):  # a scheduler that is gone has nothing left to cancel
                client.cancel(list(in_flight))


def _workers_by_host(client: Any) -> dict[str, int]:
    """How many of the cluster's workers share each host (they split its cores)."""
    hosts = [worker.get("host", "") for worker in client.scheduler_info().get("workers", {}).values()]
    return {host: hosts.count(host) for host in set(hosts)}


def _offers_a_gpu(client: Any) -> bool:
    workers = client.scheduler_info().get("workers", {})
    return any((worker.get("resources") or {}).get("GPU", 0) >= 1 for worker in workers.values())


def _outcome(future: Any, task: RasterTask) -> Outcome:
    """The worker's outcome, or a failed one saying what Dask reported (a lost worker, a bug)."""
    if future.status == "finished":
        return future.result()
    error = future.exception() if future.status == "error" else None
    reason = f"{type(error).__name__}: {error}" if error is not None else f"the task was {future.status}"
    return Outcome(task.stem, task.input_path, FAILED, pixels=task.pixels, message=reason, size=task.size,
                   mtime_ns=task.mtime_ns)


def _in_order(given: Sequence[str], tasks: Sequence[RasterTask], manifest: Manifest,
              refused: Sequence[Outcome]) -> list[Outcome]:
    """Every input's outcome in the order given, refused ones in their place; then maps of earlier runs
    whose inputs this run did not name (they are in the folder, so in the mosaic and the table)."""
    by_input = {outcome.input_path: outcome for outcome in refused}
    by_input.update({task.input_path: manifest.rasters[task.stem] for task in tasks if task.stem in manifest.rasters})
    order = {path: index for index, path in enumerate(given)}
    listed = sorted(by_input.values(), key=lambda outcome: order.get(outcome.input_path, len(order)))
    stems = {task.stem for task in tasks}
    earlier = [outcome for stem, outcome in sorted(manifest.rasters.items())
               if stem not in stems and outcome.status == DONE and not outcome.parent]
    return listed + earlier
