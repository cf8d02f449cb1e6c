"""The epoch loop shared by ``fit`` and ``pretrain``: batches, progress, resume, stop, records.

A *task* (the segmentation trainer, the MAE pretrainer) says what one step does, how to validate
and what to write after an epoch; this loop does the rest the same way for both:

* batches come from a seeded sampler (``DistributedSampler``: each rank its share, a new order
  every epoch from (seed, epoch)), so the data order never depends on how the run was resumed;
* the state (task, epoch, position in the epoch, loss sums, history, RNG) is saved at the end of
  every epoch, every ``save_every_minutes`` and on Ctrl-C / SIGTERM, and a re-run continues from
  exactly there: a resumed run computes bitwise what an uninterrupted one does (on the CPU);
* a tqdm bar per epoch shows the loss and the throughput; ``metrics.csv`` gets a row per epoch;
* under torchrun, losses and chip counts are summed over ranks, rank 0 alone writes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from ...core.errors import Cancelled
from ...core.progress import Progress
from .distributed import Distributed, all_reduce_sum, any_rank, barrier, sync_buffers
from .folder import RunFolder
from .records import write_csv
from .runtime import StopRequest, out_of_memory_advice

METRICS_FILE = "metrics.csv"


class Task(Protocol):
    """What a training loop needs from the thing being trained."""

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        """One optimisation step; returns 0-d loss tensors (batch means) to log."""

    def validate(self, epoch: int) -> dict[str, float]:
        """Validation figures of the epoch (called on every rank)."""

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Model selection (every rank) and files such as checkpoints and plots (rank 0)."""

    def describe(self, record: dict[str, Any]) -> str:
        """One log line summing up an epoch."""

    def networks(self) -> list[nn.Module]:
        """The networks being trained (their buffers are aligned across ranks)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything of the task to save for resuming (tensors and plain values only)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


@dataclass
class LoopSettings:
    """How the loop runs (from the command's config).

    Attributes:
        epochs: Epochs to reach in total (a resumed run continues up to this number).
        batch_size: Samples per step and process.
        num_workers: DataLoader worker processes (0: load in the training process).
        seed: Seeds the data order.
        steps_per_epoch: At most this many steps per epoch (None: one pass over the data).
        progress: Show progress bars.
        save_every_minutes: Save the state at least this often within an epoch (0: only at
            epoch ends and on stop).
        log_every: Update the bar's loss and throughput every this many steps.
    """

    epochs: int
    batch_size: int
    num_workers: int
    seed: int
    steps_per_epoch: Optional[int] = None
    progress: bool = True
    save_every_minutes: float = 10.0
    log_every: int = 10


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` (shuffled per epoch, a share per rank) that can skip its first items."""

    def __init__(self, dataset: Dataset, context: Distributed, seed: int) -> None:
        super().__init__(dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=seed)
        self.start = 0

    def __iter__(self):
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return super().__len__() - self.start


@dataclass
class _Position:
    """Where the run is: epochs done, batches done in the current epoch and its running sums."""

    epoch: int = 0
    batches: int = 0
    step: int = 0
    sums: Optional[dict[str, float]] = None
    samples: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batches": self.batches, "step": self.step, "sums": dict(self.sums or {}),
                "samples": self.samples, "seconds": self.seconds}


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochLoop:
    """Runs a :class:`Task` for the configured epochs, resuming from its folder's saved state.

    Args:
        task: What is trained.
        dataset: Training samples (with ``set_epoch``).
        settings: Loop settings.
        folder: The run folder (state and ``metrics.csv``).
        context: This process's place under torchrun.
        progress: Log lines (rank 0).
        stop: Set when the run must stop (Ctrl-C); checked after every step.
    """

    def __init__(self, task: Task, dataset: Any, settings: LoopSettings, folder: RunFolder, context: Distributed,
                 progress: Progress, stop: StopRequest) -> None:
        self.task, self.dataset, self.settings = task, dataset, settings
        self.folder, self.context, self.progress, self.stop = folder, context, progress, stop
        self.history: list[dict[str, Any]] = []
        self.position = _Position()
        self.sampler = ResumableSampler(dataset, context, settings.seed)
        self.loader = DataLoader(dataset, batch_size=settings.batch_size, sampler=self.sampler,
                                 num_workers=settings.num_workers, pin_memory=context.device.type == "cuda",
                                 drop_last=False, persistent_workers=False)

    # ----- state ---------------------------------------------------------------------------

    def resume(self) -> bool:
        """Load the folder's state if there is one; True when resumed."""
        state = self.folder.load_state()
        if state is None:
            return False
        self.task.load_state_dict(state["task"])
        self.position = _Position(**state["position"])
        self.history = list(state["history"])
        _restore_rng(state["rng"])
        return True

    def save(self) -> None:
        """Save the state between barriers (rank 0 writes, no rank races ahead)."""
        barrier(self.context)
        if self.context.is_main:
            self.folder.save_state({"task": self.task.state_dict(), "position": self.position.to_dict(),
                                    "history": self.history, "rng": _rng_state()})
        barrier(self.context)

    # ----- loop ----------------------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        full = math.ceil(self.sampler.num_samples / self.settings.batch_size)
        limit = self.settings.steps_per_epoch
        return full if limit is None else max(1, min(limit, full))

    def run(self) -> list[dict[str, Any]]:
        """Train until ``settings.epochs``; returns the per-epoch records.

        Raises:
            Cancelled: stopped by Ctrl-C / SIGTERM after saving the state.
        """
        while self.position.epoch < self.settings.epochs:
            self._train_epoch()
            self._end_epoch()
            self._check_stop()
        for network in self.task.networks():
            sync_buffers(network, self.context)
        return self.history

    def _check_stop(self) -> None:
        if any_rank(self.stop.requested, self.context):
            position = self.position
            where = (f"in epoch {position.epoch + 1} after batch {position.batches}" if position.batches
                     else f"after epoch {position.epoch}")
            raise Cancelled(f"Stopped {where} (step {position.step}); the state is saved in {self.folder.folder}. "
                            "Run the same command again to continue from there.")

    def _flags(self, last_save: float) -> tuple[bool, bool]:
        """(stop, save now), agreed by all ranks (checked every step alone, every log_every steps under DDP)."""
        every = 60 * self.settings.save_every_minutes
        due = every > 0 and time.monotonic() - last_save > every
        if not self.context.enabled:
            return self.stop.requested, due
        if self.position.batches % self.settings.log_every:
            return False, False
        flags = all_reduce_sum(np.array([int(self.stop.requested), int(due)], np.int64), self.context)
        return bool(flags[0]), bool(flags[1])

    def _train_epoch(self) -> None:
        settings, position, device = self.settings, self.position, self.context.device
        epoch, total = position.epoch, self.steps_per_epoch
        if position.batches >= total:
            return
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.start = position.batches * settings.batch_size
        # Running sums stay on the device: reading them forces a GPU sync, done only to log or save.
        sums = {key: torch.tensor(value, dtype=torch.float64, device=device)
                for key, value in (position.sums or {}).items()}
        bar = tqdm(total=total, initial=position.batches, desc=f"epoch {epoch + 1}/{settings.epochs}",
                   unit="batch", disable=not (settings.progress and self.context.is_main), dynamic_ncols=True)
        started, base_seconds, last_save = time.perf_counter(), position.seconds, time.monotonic()

        def settle() -> None:
            position.sums = {key: float(value) for key, value in sums.items()}
            position.seconds = base_seconds + time.perf_counter() - started

        try:
            for batch in self.loader:
                if position.batches >= total:
                    break
                count = len(batch["index"])
                with out_of_memory_advice(settings.batch_size):
                    losses = self.task.train_step(batch, position.step)
                for key, value in losses.items():
                    term = value.detach().to(torch.float64) * count
                    sums[key] = sums[key] + term if key in sums else term
                position.batches += 1
                position.step += 1
                position.samples += count
                bar.update(1)
                if position.batches % settings.log_every == 0 or position.batches == total:
                    settle()
                    rate = position.samples * self.context.world_size / max(position.seconds, 1e-9)
                    bar.set_postfix(loss=f"{(position.sums or {}).get('loss', math.nan) / position.samples:.4f}",
                                    chips_s=f"{rate:.1f}")
                stop, due = self._flags(last_save)
                if stop or due:
                    settle()
                    self.save()
                    last_save = time.monotonic()
                if stop:
                    self._check_stop()
        finally:
            settle()
            bar.close()

    def _end_epoch(self) -> None:
        position, context = self.position, self.context
        keys = sorted(position.sums or {})
        totals = all_reduce_sum(np.array([(position.sums or {})[key] for key in keys] + [position.samples],
                                         np.float64), context)
        samples = max(totals[-1], 1.0)
        record: dict[str, Any] = {"epoch": position.epoch + 1, "step": position.step}
        record.update({f"train_{key}": float(total / samples) for key, total in zip(keys, totals[:-1])})
        record["chips"] = int(totals[-1])
        record["chips_per_s"] = float(totals[-1] / max(position.seconds, 1e-9))
        record["train_seconds"] = position.seconds
        for network in self.task.networks():
            sync_buffers(network, context)
        started = time.perf_counter()
        with out_of_memory_advice(self.settings.batch_size, "validation batch"):
            record.update(self.task.validate(position.epoch))
        record["val_seconds"] = time.perf_counter() - started
        self.history.append(record)
        self.task.on_epoch_end(record, self.history)
        self.position = _Position(epoch=position.epoch + 1, step=position.step)
        self.save()
        if context.is_main:
            write_csv(self.folder.path(METRICS_FILE), self.history)
            self.progress.info(self.task.describe(record))
