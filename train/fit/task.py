"""The ``fit`` run: data, networks, optimisers, validation, model selection, files.

:func:`fit` is the whole command as a function (the benchmark calls it directly). The epoch loop,
resuming and stopping are :class:`~.loop.EpochLoop`'s; one step of each mode is in :mod:`.steps`;
this module wires them together and decides what is written:

* ``best.pt``: a self-describing model checkpoint of the epoch with the best validation score,
  selected resolution-specifically (:mod:`.validation`); QGIS's segment algorithm runs it;
* ``trainer_state.pt``: everything needed to continue (see :mod:`.run_folder`);
* ``metrics.csv``, ``curves.png``, ``examples.png``, and ``summary.json`` at the end.
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import os
from dataclasses import dataclass
from typing import Any, Optional, Union, cast

import numpy as np
import torch

from ...core.errors import Low2HighError
from ...core.files import atomic_write_json
from ...core.progress import Progress
from ...models.checkpoint import save_checkpoint
from ...models.discriminator import Discriminator
from ..data.datasets import ChipDataset
from ..data.exemplars import ExemplarSource
from ..data.info import read_dataset_info, training_crop
from ..data.priors import missing_codes, read_prior
from ..plots import plot_curves, plot_examples
from ..runner.distributed import Distributed, unwrap, wrap
from ..runner.folder import RunFolder
from ..runner.loop import METRICS_FILE
from ..runner.runtime import StopRequest, memory_format_for, seed_everything
from ..runner.session import mean_chips_per_s, run_training
from ..scoring.predict import predict_chips
from ..scoring.validation import REFERENCES, SELECTION_METRIC, metric_columns, score_chips
from .config import RESUMABLE, FitConfig
from .model_setup import build_segmentation_network, command_line, ema_model, initialise, model_card
from .steps import AdversarialSettings, AdversarialStep, SupervisedStep, label_loss

BEST_FILE = "best.pt"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.png"
EXAMPLES_FILE = "examples.png"
OUTPUTS = (BEST_FILE, SUMMARY_FILE, CURVES_FILE, EXAMPLES_FILE, METRICS_FILE)


@dataclass
class FitResult:
    """What a ``fit`` run produced (the same on every rank)."""

    folder: str
    best_path: str
    best_epoch: int
    best_score: float
    selection: str
    history: list[dict[str, Any]]
    is_main: bool = True

    @property
    def chips_per_s(self) -> float:
        return mean_chips_per_s(self.history)

    def describe(self) -> str:
        return (f"{self.best_path}: best epoch {self.best_epoch} of {len(self.history)}, validation {self.selection} "
                f"mIoU {self.best_score:.2%}; {self.chips_per_s:.1f} chips/s")


def discriminator_crop(requested: int, crop: int, progress: Progress) -> int:
    """The side of the maps D judges: the exemplar crop, or the largest power of two in a smaller crop."""
    if requested <= crop:
        if requested & (requested - 1):
            raise Low2HighError(f"exemplar_crop must be a power of two (the discriminator halves it down to 2 × 2); "
                                f"got {requested}.")
        return requested
    side = 1 << (crop.bit_length() - 1)
    progress.warn(f"The training crops ({crop} px) are smaller than exemplar_crop ({requested}); the discriminator "
                  f"judges {side}-px maps.")
    return side


def training_codes(data: ChipDataset) -> np.ndarray:
    """The raw coarse code of every training block, flat (RAW_NODATA where unlabelled)."""
    return np.concatenate([data.arrays(index)["coarse_raw"].ravel() for index in range(len(data))])


def training_class_shares(data: ChipDataset, prior: Optional[np.ndarray], codes: Optional[np.ndarray]
                          ) -> np.ndarray:
    """Each class's share of the training targets ``(K,)``: of the prior's rows over the blocks'
    ``codes`` it knows (distribution modes), else of the merged coarse labels."""
    classes = len(data.info.class_names)
    if prior is not None and codes is not None:
        totals = np.nansum(prior[codes], axis=0)
    else:
        totals = np.zeros(classes)
        for index in range(len(data)):
            coarse = data.arrays(index)["coarse"].ravel()
            totals += np.bincount(coarse[coarse < classes], minlength=classes)
    if not totals.sum():
        raise Low2HighError("The training chips hold no labelled block, so the classes' shares are unknown.")
    return totals / totals.sum()


class FitTask:
    """Trains one segmentation network (and its discriminator in the adversarial modes) on a dataset."""

    def __init__(self, config: FitConfig, context: Distributed, folder: RunFolder, progress: Progress) -> None:
        self.config, self.context, self.folder, self.progress = config, context, folder, progress
        device = context.device
        mode = config.training_mode
        self.selection = mode.selection
        crop = training_crop(read_dataset_info(config.dataset), config.crop)
        distribution = mode.needs_prior
        self.train_data = ChipDataset(config.dataset, config.train_splits, augment=config.augment, crop=crop or None,
                                      require=mode.chip_labels, cache_mb=config.cache_mb, seed=config.seed,
                                      progress=progress, standardisation=config.standardisation,
                                      photometric=config.photometric, raw_coarse=distribution)
        self.info = self.train_data.info
        self.val_data = ChipDataset(config.dataset, config.val_splits, require=None, cache_mb=config.cache_mb,
                                    progress=progress, standardisation=config.standardisation)
        self.prior_source = ""
        codes = training_codes(self.train_data) if distribution else None
        prior = self._prior_table(codes) if codes is not None else None
        self.class_shares = training_class_shares(self.train_data, prior, codes) if config.logit_adjust else None
        seed_everything(config.seed)
        network = build_segmentation_network(mode, self.info, config.width, config.pixel_hidden, config.pixel_layers)
        self.init_source = initialise(network, config.init, self.info, progress) if config.init else ""
        self.network = network.to(device, memory_format=memory_format_for(network, device))
        self.model = wrap(self.network, context)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.ema = ema_model(self.network, config.ema) if config.ema else None
        bias = None if self.class_shares is None else config.logit_adjust * np.log(np.maximum(self.class_shares, 1e-4))
        loss = label_loss(config.mode, self.info.factor, config.aggregate == "mean", prior, config.prior_mix, bias)
        self.discriminator: Optional[torch.nn.Module] = None
        self.d_optimizer: Optional[torch.optim.Optimizer] = None
        self.exemplar_source = ""
        self.step: Union[AdversarialStep, SupervisedStep]
        if mode.adversarial:
            self.step = self._adversarial_step(loss)
        else:
            self.step = SupervisedStep(self.model, self.optimizer, loss, device, config.amp)
        self.best_score, self.best_epoch = -math.inf, 0

    def _prior_table(self, codes: np.ndarray) -> np.ndarray:
        """The prior's lookup table; warns with the number of training blocks (``codes``) it lacks."""
        if not self.config.prior:
            raise Low2HighError(f"Mode {self.config.mode} needs --prior (a table from `coarse-prior`).")
        prior = read_prior(self.config.prior, self.progress)
        missing = missing_codes(prior, codes)
        if missing:
            listed = ", ".join(f"{code} ({count})" for code, count in sorted(missing.items()))
            self.progress.warn(f"The prior has no row for {sum(missing.values())} of {codes.size} training blocks "
                               f"(codes and blocks: {listed}); those blocks are ignored.")
        self.prior_source = f"{os.path.basename(self.config.prior)}: {prior.source}"
        return prior.table()

    @property
    def scored_network(self) -> torch.nn.Module:
        """What is validated and saved: the weights' moving average with --ema, else the network."""
        if self.ema is not None:
            return cast(torch.nn.Module, self.ema.module)
        return self.network

    def _adversarial_step(self, loss: Any) -> AdversarialStep:
        config, device = self.config, self.context.device
        crop = self.train_data.crop or self.info.chip_size
        side = discriminator_crop(config.exemplar_crop, crop, self.progress)
        if config.exemplar_raster:
            exemplars = ExemplarSource.from_raster(config.exemplar_raster, side, config.exemplar_band, self.info.gsd,
                                                   self.progress)
        else:
            exemplars = ExemplarSource.from_dataset(config.dataset, config.exemplar_splits, side, self.progress)
        self.exemplar_source = exemplars.description
        overlap = set(config.exemplar_splits) & set(config.train_splits)
        if overlap and not config.exemplar_raster:
            self.progress.warn(f"The exemplars come from the training split(s) {', '.join(sorted(overlap))}: their "
                               "fine labels are the training images' own labels, which the method must not see.")
        network = Discriminator(image_size=side)
        network = network.to(device, memory_format=memory_format_for(network, device))
        self.discriminator = wrap(network, self.context)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.d_lr)
        settings = AdversarialSettings(config.adv_weight, config.tau, config.blur_kernel, config.blur_sigma,
                                       config.d_steps, side, config.seed, self.context.rank)
        return AdversarialStep(self.model, self.discriminator, self.optimizer, self.d_optimizer, loss, exemplars,
                               settings, device, config.amp)

    # ----- Task interface ------------------------------------------------------------------

    def networks(self) -> list[torch.nn.Module]:
        return [self.model] + ([self.discriminator] if self.discriminator is not None else [])

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        losses = self.step(batch, step)
        if self.ema is not None:
            self.ema.update_parameters(self.network)
        return losses

    def validate(self, epoch: int) -> dict[str, float]:
        scores = score_chips(self.scored_network, self.val_data, REFERENCES, amp=self.config.amp,
                             batch_size=self.config.eval_batch_size or self.config.batch_size, context=self.context)
        record = {}
        for name in REFERENCES:
            record.update(metric_columns(f"val_{name}", scores[name]))
        score = getattr(scores[self.selection], SELECTION_METRIC)
        record["score"] = score if math.isfinite(score) else -math.inf
        return record

    def on_epoch_end(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        improved = self.best_epoch == 0 or record["score"] > self.best_score or self.config.select == "last"
        record["best"] = int(improved)
        if improved:
            self.best_score, self.best_epoch = record["score"], record["epoch"]
            if self.context.is_main:
                self.save_best(record)
        last = record["epoch"] == self.config.epochs
        every = self.config.plot_every
        if self.context.is_main and ((every and record["epoch"] % every == 0) or last):
            self.plot(history)

    def describe(self, record: dict[str, Any]) -> str:
        selected = record[f"val_{self.selection}_macro_iou"]
        other = "coarse" if self.selection == "fine" else "fine"
        return (f"epoch {record['epoch']}/{self.config.epochs}: loss {record.get('train_loss', math.nan):.4f}, "
                f"val {self.selection} mIoU {selected:.2%} (selection; best {self.best_score:.2%} at epoch "
                f"{self.best_epoch}), val {other} mIoU {record[f'val_{other}_macro_iou']:.2%}, "
                f"{record['chips_per_s']:.1f} chips/s")

    def state_dict(self) -> dict[str, Any]:
        state = {"network": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict(),
                 "best_score": self.best_score, "best_epoch": self.best_epoch}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        if self.discriminator is not None:
            assert self.d_optimizer is not None  # made with the discriminator
            state["discriminator"] = unwrap(self.discriminator).state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unwrap(self.model).load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        if self.discriminator is not None:
            assert self.d_optimizer is not None  # made with the discriminator
            unwrap(self.discriminator).load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.best_score, self.best_epoch = float(state["best_score"]), int(state["best_epoch"])

    # ----- files ---------------------------------------------------------------------------

    def training_facts(self, record: dict[str, Any]) -> dict[str, Any]:
        """Provenance stored in the model card."""
        config = self.config
        selected = (f"validation {self.selection} labels ({SELECTION_METRIC}"
                    f"{', block majority of the prediction' if self.selection == 'coarse' else ''})"
                    if config.select == "best" else "the last epoch")
        return {"mode": config.mode, "epochs": config.epochs, "best_epoch": record["epoch"],
                "selected_on": selected + (f", weights averaged (EMA {config.ema:g})" if config.ema else ""),
                "prior": self.prior_source, "photometric": config.photometric,
                "class_shares": None if self.class_shares is None else [round(float(v), 6) for v in self.class_shares],
                "validation": {key: value for key, value in record.items() if key.startswith("val_")},
                "dataset": self.info.folder, "train_splits": config.train_splits, "val_splits": config.val_splits,
                "init": self.init_source, "exemplars": self.exemplar_source, "command": command_line(),
                "world_size": self.context.world_size, "device": self.context.device.type,
                "torch": str(torch.__version__), "saved": datetime.datetime.now().isoformat(timespec="seconds"),
                "config": dataclasses.asdict(config)}

    def save_best(self, record: dict[str, Any]) -> None:
        config = self.config
        card = model_card(self.info, config.tile_size, config.tile_overlap,
                          f"Low2High {config.mode} model trained on {os.path.basename(self.info.folder)}",
                          self.training_facts(record), config.standardisation, config.min_mapping_unit,
                          config.colour_refinement, config.input_statistics)
        save_checkpoint(self.folder.path(BEST_FILE), self.scored_network, card,
                        extra={"epoch": record["epoch"], "step": record["step"], "score": record["score"]})

    def plot(self, history: list[dict[str, Any]]) -> None:
        title = f"fit --mode {self.config.mode} on {os.path.basename(self.info.folder)}"
        plot_curves(self.folder.path(CURVES_FILE), history, title, f"val_{self.selection}_{SELECTION_METRIC}",
                    self.best_epoch or None)
        count = min(self.config.examples, len(self.val_data))
        if not count:
            return
        indices = list(range(count))
        predictions = np.concatenate([maps for _, maps, _ in predict_chips(
            self.scored_network, self.val_data, indices=indices, batch_size=count, amp=self.config.amp)])
        arrays = [self.val_data.arrays(index) for index in indices]
        plot_examples(self.folder.path(EXAMPLES_FILE), [a["image"] for a in arrays], [a["coarse"] for a in arrays],
                      [a["fine"] for a in arrays], list(predictions), self.info.class_names, self.info.band_names,
                      f"{title}: validation chips after epoch {history[-1]['epoch']}", self.info.factor)


def fit(config: FitConfig, progress: Optional[Progress] = None, stop: Optional[StopRequest] = None) -> FitResult:
    """Train (or continue training) a model as ``config`` says; see the module docstring.

    Args:
        config: The settings.
        progress: Log lines (rank 0); silent by default.
        stop: A stop request to honour (default: Ctrl-C / SIGTERM of this process).

    Raises:
        Low2HighError: a setting, dataset or file the user must fix.
        Cancelled: stopped by Ctrl-C after saving the state (run again to continue).
    """
    def finish(task: FitTask, folder: RunFolder, history: list, context: Distributed) -> FitResult:
        result = FitResult(folder.folder, folder.path(BEST_FILE), task.best_epoch, task.best_score, task.selection,
                           history, context.is_main)
        if context.is_main:
            _write_summary(folder.path(SUMMARY_FILE), result, task)
        return result

    return run_training("fit", config, FitTask, RESUMABLE, OUTPUTS, finish, progress, stop)


def _write_summary(path: str, result: FitResult, task: FitTask) -> None:
    best = next((record for record in result.history if record["epoch"] == result.best_epoch), {})
    summary = {"mode": task.config.mode, "best_checkpoint": result.best_path, "best_epoch": result.best_epoch,
               "selection": f"val_{result.selection}_{SELECTION_METRIC}", "best": best,
               "epochs": len(result.history), "steps": result.history[-1]["step"] if result.history else 0,
               "chips_seen": sum(record["chips"] for record in result.history),
               "chips_per_s": result.chips_per_s, "world_size": task.context.world_size,
               "device": task.context.device.type, "train_chips": len(task.train_data),
               "crop": task.train_data.crop, "batch_size": task.config.batch_size}
    atomic_write_json(path, summary, default=float)
