"""The ``pretrain`` run: MAE on image crops with the shared epoch loop, writing ``encoder.pt``.

:func:`pretrain` is the whole command as a function (the benchmark calls it directly). Masks are
drawn from generators seeded by (seed, rank, step), the validation loss from fixed crops and
fixed masks, so runs are reproducible and resumable like ``fit``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from ...core.errors import Low2HighError
from ...core.progress import Progress
from ...models.mae import MaskedAutoencoder
from ..data.datasets import ChipDataset
from ..plots import plot_curves, plot_reconstructions
from ..runner.distributed import Distributed, all_reduce_sum, shard, unwrap, wrap
from ..runner.folder import RunFolder
from ..runner.loop import METRICS_FILE
from ..runner.runtime import StopRequest, autocast, seed_everything, torch_generator
from ..runner.session import mean_chips_per_s, run_training
from ..scoring.predict import to_device
from .config import ENCODER_FILE, RECONSTRUCTION_FILE, RESUMABLE, PretrainConfig
from .encoder_file import save_encoder

CURVES_FILE = "curves.png"
OUTPUTS = (ENCODER_FILE, RECONSTRUCTION_FILE, CURVES_FILE, METRICS_FILE)
_VALIDATION_KEY = 10 ** 9  # generator keys of validation masks, apart from training steps


@dataclass
class PretrainResult:
    """What a ``pretrain`` run produced."""

    folder: str
    encoder_path: str
    history: list[dict[str, Any]]
    is_main: bool = True

    @property
    def chips_per_s(self) -> float:
        return mean_chips_per_s(self.history)

    def describe(self) -> str:
        last = self.history[-1] if self.history else {}
        return (f"{self.encoder_path}: {len(self.history)} epochs, training loss {last.get('train_loss', math.nan):.4f}"
                f", validation loss {last.get('val_loss', math.nan):.4f}; {self.chips_per_s:.1f} crops/s")


class PretrainTask:
    """Trains a :class:`~low2high.models.MaskedAutoencoder` whose ResNet-18 becomes ``encoder.pt``."""

    def __init__(self, config: PretrainConfig, context: Distributed, folder: RunFolder, progress: Progress) -> None:
        self.config, self.context, self.folder, self.progress = config, context, folder, progress
        common: dict[str, Any] = dict(crop=config.image_size, align=1, labels=False, require=None,
                                      cache_mb=config.cache_mb, seed=config.seed, progress=progress)
        self.train_data = ChipDataset(config.dataset, config.splits, augment=config.augment, **common)
        self.info = self.train_data.info
        # Validation crops never change: the dataset's epoch stays 0.
        self.val_data = ChipDataset(config.dataset, config.val_splits, **common) if config.val_splits else None
        seed_everything(config.seed)
        try:
            mae_config = config.mae_config(self.info.num_bands)
        except ValueError as error:
            raise Low2HighError(f"Invalid MAE settings: {error}") from None
        self.network = MaskedAutoencoder(mae_config).to(context.device)
        self.model = wrap(self.network, context)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)

    # ----- Task interface ------------------------------------------------------------------

    def networks(self) -> list[torch.nn.Module]:
        return [self.model]

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        device = self.context.device
        images = to_device(batch["image"], device, torch.contiguous_format)  # (B, C, S, S)
        generator = torch_generator(device, self.config.seed, self.context.rank, step)
        with autocast(device, self.config.amp):
            loss, _, _ = self.model(images, generator=generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, epoch: int) -> dict[str, float]:
        if self.val_data is None:
            return {}
        device, network = self.context.device, self.network
        network.eval()
        totals = np.zeros(2)
        try:
            for index in shard(len(self.val_data), self.context):
                image = torch.from_numpy(self.val_data[index]["image"])[None]  # (1, C, S, S)
                generator = torch_generator(device, self.config.seed, _VALIDATION_KEY + index)
                with autocast(device, self.config.amp):
                    loss, _, _ = network(to_device(image, device, torch.contiguous_format), generator=generator)
                totals += (float(loss), 1.0)
        finally:
            network.train()
        totals = all_reduce_sum(totals, self.context)
        return {"val_loss": float(totals[0] / max(totals[1], 1.0))}

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        if not self.context.is_main:
            return
        self.save_encoder(record)
        every = self.config.plot_every
        if (every and record["epoch"] % every == 0) or record["epoch"] == self.config.epochs:
            self.plot(history)

    def describe(self, record: dict[str, Any]) -> str:
        return (f"epoch {record['epoch']}/{self.config.epochs}: loss {record.get('train_loss', math.nan):.4f}, "
                f"validation loss {record.get('val_loss', math.nan):.4f}, {record['chips_per_s']:.1f} crops/s")

    def state_dict(self) -> dict[str, Any]:
        return {"network": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])

    # ----- files ---------------------------------------------------------------------------

    def save_encoder(self, record: dict[str, Any]) -> None:
        config, info = self.config, self.info
        extra = {"epoch": record["epoch"], "train_loss": record.get("train_loss"), "val_loss": record.get("val_loss"),
                 "dataset": info.folder, "splits": config.splits, "mask_ratio": config.mask_ratio,
                 "patch_size": config.patch_size, "image_size": config.image_size}
        save_encoder(self.folder.path(ENCODER_FILE), self.network.encoder_state_dict(), info.num_bands,
                     config.width, info.band_names, info.mean, info.std, extra)

    def plot(self, history: list[dict[str, Any]]) -> None:
        title = f"pretrain (MAE, {self.config.mask_ratio:.0%} masked) on {os.path.basename(self.info.folder)}"
        plot_curves(self.folder.path(CURVES_FILE), history, title)
        source = self.val_data if self.val_data is not None else self.train_data
        count = min(self.config.examples, len(source))
        if not count:
            return
        device = self.context.device
        images = torch.from_numpy(np.stack([source[index]["image"] for index in range(count)]))
        generator = torch_generator(device, self.config.seed, _VALIDATION_KEY)
        parts = self.network.reconstruct_parts(to_device(images, device, torch.contiguous_format),
                                               generator=generator)
        mean = torch.tensor(self.info.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.info.std).view(1, -1, 1, 1)

        def to_pixels(x: torch.Tensor) -> np.ndarray:
            return (x.float().cpu() * std + mean).numpy()  # back to pixel / 255 units

        plot_reconstructions(self.folder.path(RECONSTRUCTION_FILE), to_pixels(images), to_pixels(parts.prediction),
                             parts.mask[:, 0].cpu().numpy() > 0.5, self.info.band_names,
                             f"{title}: epoch {history[-1]['epoch']}")


def pretrain(config: PretrainConfig, progress: Optional[Progress] = None,
             stop: Optional[StopRequest] = None) -> PretrainResult:
    """Pretrain (or continue pretraining) as ``config`` says; see the module docstring.

    Raises:
        Low2HighError: a setting, dataset or file the user must fix.
        Cancelled: stopped by Ctrl-C after saving the state (run again to continue).
    """
    def finish(task: PretrainTask, folder: RunFolder, history: list, context: Distributed) -> PretrainResult:
        return PretrainResult(folder.folder, folder.path(ENCODER_FILE), history, context.is_main)

    return run_training("pretrain", config, PretrainTask, RESUMABLE, OUTPUTS, finish, progress, stop)
