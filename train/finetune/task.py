"""``finetune``: adapt a trained model to a user's imagery with coarse labels over drawn areas.

The whole operation behind ``low2high:finetune``, QGIS-free: read the areas and cut their chips
(:mod:`.data`), load the base model, then run the training module's own step objects
(:class:`~..fit.steps.SupervisedStep`, or :class:`~..fit.steps.AdversarialStep` with fit's
discriminator and exemplar source) for STEPS steps. This is not ``fit``'s epoch loop on purpose:
a fine-tuning run is minutes long, has no run folder to resume from, is cancelled through the
caller's progress object and reports every step; what it shares with ``fit`` is everything that
decides the weights (losses, steps, discriminator, exemplars, input normalisation).

Every ``eval_every`` steps the aggregated prediction is compared with the validation blocks'
coarse labels; the best step is kept (step 0, the base model, included), and the run stops early
after ``patience`` validations without improvement.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import torch

from ...core.contract import fed_statistics, statistics_source
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled, time_left
from ...core.publication import Publication
from ...core.resources import resource_path
from ...core.signals import cancels_on_termination
from ...engine.evaluation.metrics import Metrics
from ...engine.geo.gdal_scope import with_gdal
from ...engine.geo.raster_io import RasterSource, crs_name
from ...engine.geo.resample import ground_sample_distance
from ...engine.labels.taxonomy import load_taxonomy
from ...models.discriminator import Discriminator
from ..data.exemplars import ExemplarSource
from ..fit.steps import AdversarialSettings, AdversarialStep, SupervisedStep, label_loss
from ..fit.task import discriminator_crop
from ..modes import Mode, without_prior
from ..runner.runtime import memory_format_for, seed_everything, torch_device
from .agreement import block_agreement, describe, held_out
from .areas import read_areas
from .config import FREEZE_BELOW_BLOCKS, FinetuneConfig
from .data import TRAIN, VALIDATION, BatchSampler, describe_blocks, image_statistics, read_area_chips, split_validation
from .destinations import check_model_output
from .model import DEMO_MODEL, finetuned_card, load_base_model, set_training_mode, snapshot, trainable_parameters
from .outputs import publish_model
from .plot import plot_finetune
from .selection import Judge, agreement
from .teacher import frozen_copy, with_teacher

BUNDLED_EXEMPLARS = resource_path("exemplars", "chesapeake_merged.tif")
"""Real Chesapeake 1 m land cover in the merged classes (``make exemplars``): the adversarial term's default."""
BUNDLED_NLCD_PRIOR = resource_path("priors", "nlcd_chesapeake.json")
"""p(merged class | NLCD code) counted on the same band of real labels (``make exemplars``): agg-dist's default."""


@dataclass
class FinetuneResult:
    """What a run produced and measured (figures in 0–1)."""

    output: str
    onnx: Optional[str]
    steps: int
    best_step: int
    freeze_encoder: bool
    before: dict[str, float]
    after: dict[str, float]
    blocks: dict[str, int]
    seconds: float
    seconds_per_step: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def _figures(metrics: Metrics) -> dict[str, float]:
    return {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1, "macro_iou": metrics.macro_iou,
            "blocks": float(metrics.total)}


class _Run:
    """One fine-tuning run's state: chips, network, step, best weights, history."""

    def __init__(self, config: FinetuneConfig, progress: Progress) -> None:
        self.config, self.progress = config, progress
        model_path = config.model or DEMO_MODEL
        self.output = check_model_output(config)  # OUTPUT_MODEL and its .onnx against every input, before any work
        self.model_path = model_path
        taxonomy = load_taxonomy(config.taxonomy, config.mapping)
        image_grid = RasterSource.open(config.image, "INPUT raster").grid
        self.areas = read_areas(config.areas, config.areas_crs, image_grid)
        self.base = load_base_model(model_path)
        card = self.base.card
        progress.info(f"Base model {os.path.basename(model_path)}: {card.description or 'no description'} "
                      f"(bands {', '.join(card.band_names)}, {card.gsd:g} m).")
        self._check_gsd(image_grid, card.gsd)
        self.prior_path = self._prior_path()
        self.chips = read_area_chips(config.image, config.labels, taxonomy, self.areas, config.factor,
                                     config.chip_blocks, len(card.band_names), progress, bool(self.prior_path),
                                     config.chip_memory_mb, config.seed)
        split_validation(self.chips, config.validation_share, config.seed, progress)
        self.block_metres = self.chips.factor * ground_sample_distance(image_grid)
        progress.info(describe_blocks(self.chips, self.block_metres))
        self.freeze = self._freeze_rule()
        self.freeze_bn = self.freeze if config.freeze_batchnorm is None else config.freeze_batchnorm
        self.card = self._fed_card(card)  # the base card, or its copy with the areas' (or blended) statistics
        self.device = torch_device(config.device)
        seed_everything(config.seed)
        network = self.base.build_model(self.device)
        self.network = network.to(memory_format=memory_format_for(network, self.device))
        parameters = trainable_parameters(self.network, self.freeze)
        self.optimizer = torch.optim.Adam(parameters, lr=config.lr)
        self.exemplar_source = self.prior_source = ""
        self.prior = self._read_prior()
        self.mode = self._mode()
        self.judge = Judge(self.prior)
        self.step = self._make_step()
        self.sampler = BatchSampler(self.chips, self.card, config.batch_size, config.augment, config.seed)
        self.history: list[dict[str, Any]] = []

    def _fed_card(self, card):
        """The card the network is fed by while it learns: NORMALISATION resolved by segment's rule (one
        rule, core.contract), the areas standing for segment's region."""
        requested = self.config.normalisation
        if card.standardisation == "tile":
            self.progress.info("Input statistics: each chip's own, as the base model was trained (its card says "
                               f"per-tile standardisation; NORMALISATION {requested} changes nothing), and segment "
                               "feeds its maps the image's own.")
            return card
        source = statistics_source(requested, card.standardisation, card.input_statistics)
        if source == "model":
            self.progress.info(f"Input statistics: the base model's, as trained (NORMALISATION {requested}).")
            return card
        mean, std = fed_statistics(source, card.mean, card.std, *image_statistics(self.chips),
                                   int(self.chips.valid.sum()))
        if source == "blend":
            self.progress.info(f"Input statistics: half the base model's, half the drawn areas' own (NORMALISATION "
                               f"{requested}), as segment feeds the new model (its card keeps the base's).")
            return dataclasses.replace(card, mean=mean, std=std)
        self.progress.info(f"Input statistics: the drawn areas' own (NORMALISATION {requested}; stored in the new "
                           "model's card, so segment feeds it the same way).")
        return dataclasses.replace(card, mean=mean, std=std)

    def stored_card(self):
        """The card the new model is written with, so that segment's INPUT_STATISTICS auto feeds it as it
        learnt: for ``blend``, the base's statistics and ``blend`` (segment blends them with its region's);
        otherwise the statistics it was fed, as they are (``model``)."""
        card = self.base.card
        if card.standardisation == "tile":
            return card
        if statistics_source(self.config.normalisation, card.standardisation, card.input_statistics) == "blend":
            return dataclasses.replace(card, input_statistics="blend")
        return dataclasses.replace(self.card, input_statistics="model")

    def _check_gsd(self, grid, model_gsd: float) -> None:
        gsd = ground_sample_distance(grid)
        if abs(gsd / model_gsd - 1) > 0.05:
            raise Low2HighError(f"INPUT has {gsd:.3g} m pixels but the model was trained at {model_gsd:.3g} m; "
                                f"resample the image to {model_gsd:.3g} m first (Raster ▸ Projections ▸ Warp), so "
                                "the fine-tuned model sees the scale it will be run at.")

    def _freeze_rule(self) -> bool:
        config, usable = self.config, self.chips.usable_blocks
        if config.freeze_encoder is not None:
            freeze = config.freeze_encoder
            self.progress.info(f"Encoder {'frozen' if freeze else 'trained'} (FREEZE_ENCODER).")
            return freeze
        freeze = usable < FREEZE_BELOW_BLOCKS
        self.progress.info(f"Encoder {'frozen' if freeze else 'trained'}: the areas hold {usable:,} usable blocks, "
                           f"{'fewer' if freeze else 'not fewer'} than {FREEZE_BELOW_BLOCKS} (the rule when "
                           "FREEZE_ENCODER is left empty).")
        return freeze

    def _mode(self) -> Mode:
        """LOSS, or what a run without a prior trains instead when none is known for these labels (warned)."""
        mode = self.config.training_mode
        if not mode.needs_prior or self.prior is not None:
            return mode
        fallback = without_prior(mode)
        self.progress.warn(f"LOSS {mode.name} compares each block with what its code means, and no PRIOR is known "
                           f"for LABEL_TAXONOMY {self.config.taxonomy} (one is bundled for NLCD only): LOSS "
                           f"{fallback.name} is used instead. Make a prior with python -m low2high.train coarse-prior "
                           "and give it as PRIOR to use this loss.")
        return fallback

    def _make_step(self):
        config, device = self.config, self.device
        loss = label_loss(self.mode.name, self.chips.factor, **self._prior_arguments())
        if config.teacher > 0:
            loss = with_teacher(loss, frozen_copy(self.network), config.teacher, config.amp)
            self.progress.info(f"Teacher: the base model's own predictions, weight {config.teacher:g} (TEACHER): the "
                               "model moves only where the coarse labels give it a reason.")
        if not self.mode.adversarial:
            if config.exemplars:
                self.progress.warn(f"EXEMPLARS is not used: LOSS {self.mode.name} has no adversarial term.")
            return SupervisedStep(self.network, self.optimizer, loss, device, config.amp)
        chip_side = self.chips.coarse.shape[-1] * self.chips.factor
        side = discriminator_crop(config.exemplar_crop, chip_side, self.progress)
        path = config.exemplars or BUNDLED_EXEMPLARS
        exemplars = ExemplarSource.from_raster(path, side, 1, self.base.card.gsd, self.progress)
        self.exemplar_source = exemplars.description if config.exemplars else "bundled Chesapeake 1 m exemplars"
        self.progress.info(f"Adversarial term against {self.exemplar_source}, {side}-px maps.")
        discriminator = Discriminator(image_size=side)
        discriminator = discriminator.to(device, memory_format=memory_format_for(discriminator, device))
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=config.d_lr or config.lr)
        defaults = AdversarialSettings(config.adv_weight, 1e3, 3, 0.6, 1, side, config.seed)
        return AdversarialStep(self.network, discriminator, self.optimizer, d_optimizer, loss, exemplars, defaults,
                               device, config.amp)

    def _prior_path(self) -> str:
        """PRIOR, or the bundled NLCD prior for NLCD labels; empty when none is known."""
        if self.config.prior:
            return self.config.prior
        return BUNDLED_NLCD_PRIOR if self.config.taxonomy == "nlcd" else ""

    def _read_prior(self):
        """p(class | code) as a (codes, K) table, or None: what each raw code means (losses, step selection)."""
        if not self.prior_path:
            return None
        from ..data.priors import missing_codes, read_prior

        if not self.config.prior:
            self.progress.info("PRIOR is empty: using the bundled NLCD prior, counted where real Chesapeake 1 m land "
                               "cover and NLCD 2011 overlap in Prince George's County, MD.")
        prior = read_prior(self.prior_path, self.progress)
        assert self.chips.raw is not None  # read with raw codes because a prior is known
        missing = missing_codes(prior, self.chips.raw[self.chips.role == TRAIN])
        if missing:
            listed = ", ".join(f"{code} ({count} blocks)" for code, count in sorted(missing.items()))
            self.progress.warn(f"PRIOR does not know the codes {listed}; those blocks are ignored by the loss.")
        self.prior_source = os.path.basename(self.prior_path)
        return prior.table()

    def _prior_arguments(self) -> dict[str, Any]:
        """The coarse prior of the distribution losses (none for the others)."""
        if not self.mode.needs_prior:
            return {}
        return {"prior": self.prior, "prior_mix": 0.0}

    def agreement(self, roles: tuple[int, ...]) -> Metrics:
        return block_agreement(self.network, self.chips, roles, self.card, self.config.amp)

    def train(self) -> tuple[int, int, bool, float]:
        """Run the steps; returns (steps run, kept step, stopped early, seconds per step).

        Every validation judges the step against the base model on the held-out blocks
        (:mod:`.selection`); the best step that beats it by more than their noise is kept, else the
        base model's weights.
        """
        config, progress = self.config, self.progress
        validating = self.chips.blocks(VALIDATION) > 0
        best_step, best_score, best_state, stale = 0, -math.inf, None, 0
        base_held = None
        if validating:
            base_held = held_out(self.network, self.chips, (VALIDATION,), self.card, config.amp)
            best_state = snapshot(self.network)
            progress.info(f"Steps are judged on {self.chips.blocks(VALIDATION):,} held-out blocks by "
                          f"{self.judge.measure}: a step is kept only if it beats the base model by each, by more "
                          "than their noise (two standard errors).")
        sums: dict[str, float] = {}
        counted, started, step = 0, time.perf_counter(), 0
        interval = config.evaluation_interval()
        for step in range(1, config.steps + 1):
            check_canceled(progress)
            set_training_mode(self.network, self.freeze, self.freeze_bn)
            losses = self.step(self.sampler.batch(step), step)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            counted += 1
            progress.set_fraction(0.05 + 0.9 * step / config.steps)
            record: dict[str, Any] = {}
            if step % config.log_every == 0 or step == config.steps:
                record.update({f"train_{key}": value / counted for key, value in sums.items()})
                elapsed = time.perf_counter() - started
                per_step = elapsed / step
                terms = ", ".join(f"{key} {value / counted:.4f}" for key, value in sums.items() if key != "loss")
                left = time_left(step, config.steps, elapsed)  # held-out checks included: they recur alike
                progress.info(f"step {step}/{config.steps}: loss {sums['loss'] / counted:.4f}"
                              f"{f' ({terms})' if terms else ''}, {per_step:.2f} s/step{f', {left}' if left else ''}")
                sums, counted = {}, 0
            if base_held is not None and (step % interval == 0 or step == config.steps):
                held = held_out(self.network, self.chips, (VALIDATION,), self.card, config.amp)
                verdict = self.judge.verdict(held, base_held, config.seed)
                metrics = agreement(held)
                record.update({"val_accuracy": metrics.accuracy, "val_macro_iou": metrics.macro_iou,
                               "val_strength": verdict.strength})
                if verdict.better and verdict.strength > best_score:
                    best_step, best_score, best_state, stale = step, verdict.strength, snapshot(self.network), 0
                else:
                    stale += 1
                progress.info(f"step {step}, held-out blocks against the base model: {verdict.describe()}; "
                              f"{'better by every reading' if verdict.better else 'not better by every reading'}; "
                              f"kept so far: step {best_step}")
            if record:
                self.history.append({"step": step, **record})
            if validating and config.patience and stale >= config.patience:
                progress.info(f"Stopping early at step {step}: no step beat the kept one in {config.patience} "
                              f"validations (every {interval} steps).")
                break
        seconds_per_step = (time.perf_counter() - started) / max(step, 1)
        if not validating:
            best_step = step
        elif best_state is not None:
            self.network.load_state_dict(best_state)
            if best_step == 0:
                stored, base = self.stored_card(), self.base.card
                same = (stored.mean, stored.std, stored.input_statistics) == (base.mean, base.std,
                                                                              base.input_statistics)
                kept = ("and its card: segment draws the base model's map" if same else
                        "and its input statistics are the only change")
                progress.warn("No step beat the base model on the held-out blocks by more than their noise: the new "
                              f"model keeps the base model's weights ({kept}). Fine-tuning did not find a reason in "
                              "these coarse labels to change the map; draw more or larger areas, or try more STEPS.")
        return step, best_step, step < config.steps, seconds_per_step

    def facts(self, steps: int, best_step: int, before: Metrics, after: Metrics) -> dict[str, Any]:
        config, grid = self.config, self.chips.grid
        return {"base_model": os.path.basename(self.model_path), "image": os.path.abspath(config.image),
                "labels": os.path.abspath(config.labels), "taxonomy": config.taxonomy,
                "areas_extent": list(self.areas.bounds), "areas_crs": crs_name(grid.crs_wkt),
                "areas_polygons": len(self.areas.wkt), "blocks": {"train": self.chips.blocks(TRAIN),
                                                                  "validation": self.chips.blocks(VALIDATION)},
                "factor": self.chips.factor, "loss": self.mode.name, "teacher": config.teacher, "steps": steps,
                "best_step": best_step,
                "freeze_encoder": self.freeze, "exemplars": self.exemplar_source, "prior": self.prior_source,
                "normalisation": config.normalisation,
                "agreement_before": _figures(before), "agreement_after": _figures(after),
                "device": self.device.type, "config": {key: value for key, value in asdict(config).items()
                                                       if key != "areas"}}


@cancels_on_termination("finetune")
@with_gdal
def finetune(config: FinetuneConfig, progress: Optional[Progress] = None,
             publication: Optional[Publication] = None) -> FinetuneResult:
    """Fine-tune ``config.model`` (or the demo model) on the drawn areas and write OUTPUT_MODEL (+ .onnx).

    ``publication``: stage the model there, to appear with the caller's other outputs (QGIS's map and plot).

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix; nothing is written.
        Cancelled: the user cancelled; nothing is written and the base model is untouched.
    """
    progress = progress or SilentProgress()
    started = time.perf_counter()
    run = _Run(config, progress)
    usable = (TRAIN, VALIDATION)
    before = run.agreement(usable)
    progress.info(f"Aggregated prediction vs coarse labels before: {describe(before)}.")
    steps, best_step, early, per_step = run.train()
    after = run.agreement(usable)
    progress.info(f"After (step {best_step} kept): {describe(after)}; {per_step:.2f} s per step on "
                  f"{run.device.type}.")
    check_canceled(progress)
    card = finetuned_card(run.stored_card(), config.image, run.facts(steps, best_step, before, after))
    onnx = publish_model(run.network, card, run.output, config.onnx, {"step": best_step}, progress, publication)
    result = FinetuneResult(run.output, onnx, steps, best_step, run.freeze, _figures(before), _figures(after),
                            {"train": run.chips.blocks(TRAIN), "validation": run.chips.blocks(VALIDATION)},
                            time.perf_counter() - started, per_step, run.history, early)
    progress.set_fraction(1.0)
    return result


def write_plot(path: str, result: FinetuneResult, title: str) -> None:
    """OUTPUT_PLOT of a finished run."""
    plot_finetune(path, result.history, result.best_step, title)

