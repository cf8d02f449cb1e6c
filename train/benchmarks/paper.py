"""The paper-table benchmark (Tables 1-2 in kind): data, rows, budgets, table (command: ..commands.benchmark)."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Optional

from ...core.errors import Low2HighError
from ...core.files import atomic_write_json, atomic_write_text
from ...core.progress import Countdown, Progress
from ...core.publication import Publication
from ...core.resources import PACKAGE_ROOT
from ..config import field, save_config
from ..modes import AGG_ADV, HIGH, LOW, MODES, Mode, training_mode
from .sources import LABELS, NLCD, RENDERER, SHARED, render

REGIONS = "exemplars:pixels:0,2880,6156,960;test:pixels:0,3840,6156,960"
TEST = "region:test"
PRIOR_REGION = "pixels:0,2880,6156,960"
"""The exemplar band: the only place the distribution rows' prior is counted (never the test region)."""
ORACLE = "oracle"
"""NLCD itself, upsampled: no training."""
PRETRAINED = "agg+adv+pre"
"""The paper's Agg+Adv+Pre: agg+adv from an MAE-pretrained encoder (a row, not a training mode)."""
ROWS = (ORACLE,) + tuple(row for mode in MODES.values()
                         for row in ((mode.name, PRETRAINED) if mode is AGG_ADV else (mode.name,)))
"""The Oracle, then every training mode in the modes' table order (Agg+Adv+Pre after Agg+Adv)."""
NAMES = {ORACLE: "Oracle", PRETRAINED: "Agg+Adv+Pre", **{mode.name: mode.title for mode in MODES.values()}}


def row_mode(row: str) -> Mode:
    """The training mode of a trained row (every row but the Oracle)."""
    return AGG_ADV if row == PRETRAINED else training_mode(row)


COARSE_ROWS = tuple(row for row in ROWS[1:] if row_mode(row).learns_from_coarse_labels and row_mode(row) is not LOW)
"""The methods trained from coarse labels that aim to beat Low (every U-Net coarse-label mode but Low)."""
METRICS = ("accuracy", "macro_f1", "macro_iou")
#: The paper's figures (Tables 1 and 2: Acc, F1, mIoU in %), printed beside ours for orientation.
PAPER = {"oracle": (80.17, 72.69, 60.28), "low": (84.40, 76.16, 64.25), "high": (93.16, 90.87, 83.59),
         "agg": (82.63, 74.59, 62.52), "agg+adv": (87.43, 81.12, 69.84), "agg+adv+pre": (88.61, 82.60, 71.69)}
#: Budgets: the paper's, and one that fits a 2-core CPU in under 30 minutes with every row.
PRESETS = {
    "full": {"width": 64, "epochs": 100, "batch_size": 8, "lr": 1e-4, "d_lr": 1e-4, "exemplar_crop": 256,
             "pretrain_epochs": 100},
    "quick": {"width": 16, "epochs": 40, "batch_size": 4, "lr": 1e-3, "d_lr": 1e-3, "exemplar_crop": 128,
              "pretrain_epochs": 100},
}


@dataclass
class BenchmarkConfig:
    """Settings of ``benchmark``; empty values take the ``--quick`` or full preset."""

    quick: bool = field(False, "the CPU budget (< 30 min on 2 cores): width 16, 40 epochs, lr 1e-3 (a larger learning "
                               "rate makes up for 2.5 % of the paper's epochs), exemplar crops of 128 px; every row "
                               "shares it")
    work: str = field(os.path.join(PACKAGE_ROOT, ".build", "paper-benchmark"),
                      "folder for the image, dataset, runs and results (re-running reuses them)")
    shared: str = field(SHARED, "the shared folder holding data/chesapeake_pg_county and tools/render_scene.py")
    rows: list[str] = field(list(ROWS), "rows to run: " + ", ".join(ROWS))
    width: Optional[int] = field(None, "U-Net width (quick 16, full 64 = the paper's)")
    epochs: Optional[int] = field(None, "epochs of every trained row (quick 40, full 100 = the paper's)")
    batch_size: Optional[int] = field(None, "chips per step (quick 4, full 8)")
    lr: Optional[float] = field(None, "learning rate of every network (quick 1e-3, full 1e-4 = the paper's)")
    d_lr: Optional[float] = field(None, "discriminator learning rate (quick 1e-3, full 1e-4)")
    exemplar_crop: Optional[int] = field(None, "side of the maps the discriminator judges (quick 128: 4x cheaper; "
                                               "full 256 = Table S6)")
    pretrain_epochs: Optional[int] = field(None, "MAE pretraining epochs for Agg+Adv+Pre (quick and full 100: cheap "
                                                 "next to the fits)")
    seed: int = field(0, "seed of the split, and the first training seed (initialisation and data order)")
    seeds: int = field(1, "train every trained row this many times (training seeds seed, seed + 1, ...) and report "
                          "mean ± sd")
    ema: float = field(0.0, "moving average of the weights (decay per step) of every trained row (0: off)")
    select: str = field("best", "best (the epoch of the best resolution-specific validation score) or last")
    logit_adjust: float = field(0.0, "rows whose per-pixel loss reads the prior (low-dist, low-dist+adv): logit "
                                     "adjustment tau (fit --logit-adjust; 0: off)")
    prior_mix: float = field(0.0, "distribution rows: share of the merged NLCD label blended into each cell's target")
    render_seed: int = field(7, "seed of the rendered imagery")
    device: str = field("auto", "auto (GPU when there is one), cpu or cuda")
    progress: bool = field(True, "show progress bars while training")

    def __post_init__(self) -> None:
        """Refuse settings no row can train with now, not after minutes of rendering and building chips."""
        for name in ("width", "epochs", "batch_size", "exemplar_crop", "pretrain_epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
        for name in ("lr", "d_lr"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be positive (got {value})")
        if not 0 <= self.ema < 1 or not 0 <= self.prior_mix <= 1 or self.logit_adjust < 0:
            raise ValueError("--ema must be in [0, 1), --prior-mix in [0, 1] and --logit-adjust at least 0")
        if self.select not in ("best", "last"):
            raise ValueError(f"--select must be best or last (got {self.select!r})")

    def preset(self) -> dict[str, Any]:
        """The budget in force: the preset with the values given explicitly on top."""
        values = dict(PRESETS["quick" if self.quick else "full"])
        values.update({key: getattr(self, key) for key in values if getattr(self, key) is not None})
        return values


def benchmark(config: BenchmarkConfig, progress: Progress) -> dict[str, Any]:
    """Build the data, train and score every asked row, write results.{json,md}; return them."""
    unknown = sorted(set(config.rows) - set(ROWS))
    if unknown:
        raise Low2HighError(f"Unknown benchmark row(s) {', '.join(unknown)}; choose from {', '.join(ROWS)}.")
    if config.seeds < 1:
        raise Low2HighError(f"--seeds must be at least 1 (got {config.seeds}): each trained row needs one run.")
    budget = config.preset()
    os.makedirs(config.work, exist_ok=True)
    save_config(config, os.path.join(config.work, "benchmark_config.json"))
    started = time.perf_counter()
    dataset = prepare_dataset(config, progress)
    rows = {}
    asked = [row for row in ROWS if row in config.rows]
    # Training runs take minutes each: the time left after every one ("3/12 training runs, about 40 min left").
    countdown = Countdown(progress, sum(config.seeds for row in asked if row != ORACLE), "training runs", every_s=0)
    for row in asked:
        progress.info(f"--- {NAMES[row]} ---")
        rows[row] = run_row(row, dataset, config, budget, progress, countdown)
    results: dict[str, Any] = {"budget": budget, "quick": config.quick, "dataset": dataset, "test_split": TEST,
                               "rows": rows, "seeds": config.seeds, "ema": config.ema, "select": config.select,
                               "seconds": time.perf_counter() - started}
    results["gap_closed"] = gap_closed(rows)
    results["table"] = table(results)
    with Publication() as publication:  # the figures and their table together: never one run's JSON beside another's
        atomic_write_json(publication.stage(os.path.join(config.work, "results.json")),
                          {key: value for key, value in results.items() if key != "table"})
        atomic_write_text(publication.stage(os.path.join(config.work, "results.md")), results["table"] + "\n")
    return results


def prepare_dataset(config: BenchmarkConfig, progress: Progress, image: str = "", folder: str = "dataset") -> str:
    """Render the imagery (once) and build the chip dataset (resumable); return its folder.

    ``image``: build from this image instead (e.g. a mosaic of several appearances) into ``folder``.
    """
    from ..data.builder import BuildDatasetConfig, build_dataset

    for relative in (LABELS, NLCD, RENDERER):
        if not os.path.exists(os.path.join(config.shared, relative)):
            raise Low2HighError(f"The benchmark needs '{os.path.join(config.shared, relative)}' (the shared data and "
                                "tools); give their folder with --shared.")
    os.makedirs(config.work, exist_ok=True)  # demo-dataset calls this first on a fresh checkout
    image = image or os.path.join(config.work, f"image_seed{config.render_seed}.tif")
    if not os.path.exists(image):
        progress.info("Rendering NAIP-like imagery from the 1 m labels (about 2 minutes, 3 GB of memory)...")
        render(config.shared, os.path.join(config.shared, LABELS), image, config.render_seed)
    folder = os.path.join(config.work, folder)
    # min_classes 2 and max_class_share 0.9 instead of the paper's 3 / 0.75: this suburban, mostly
    # wooded area has few chips with three NLCD classes, and 120 candidate chips are all there is.
    settings = BuildDatasetConfig(image=image, fine_labels=os.path.join(config.shared, LABELS),
                                  coarse_labels=os.path.join(config.shared, NLCD), output=folder, factor=30,
                                  chip_size=480, min_classes=2, max_class_share=0.9,
                                  split_fractions=[0.85, 0.15, 0.0, 0.0], seed=config.seed, regions=REGIONS,
                                  band_names=["red", "green", "blue", "nir"])
    summary = build_dataset(settings, progress, progress_bar=config.progress)
    progress.info(summary.describe())
    return folder


def run_row(row: str, dataset: str, config: BenchmarkConfig, budget: dict[str, Any], progress: Progress,
            countdown: Optional[Countdown] = None) -> dict:
    """Train (unless the Oracle) and score one row on the test region, once per training seed."""
    from ..scoring.evaluate import oracle_metrics
    from .real import score

    real = real_scenes(config)
    if row == ORACLE:
        return {"metrics": oracle_metrics(dataset, [TEST]).summary(), "budget": "none (NLCD itself)",
                "real": {flight: score(scene.nlcd, scene.fine).summary() for flight, scene in real.items()}}
    init = pretrained_encoder(dataset, config, budget, progress) if row == PRETRAINED else ""
    runs = []
    for seed in range(config.seed, config.seed + config.seeds):
        runs.append(run_seed(row, dataset, config, budget, init, seed, real, progress))
        if countdown is not None:
            countdown.advance()
    result = {"metrics": mean_of([run["metrics"] for run in runs]), "sd": sd_of([run["metrics"] for run in runs]),
              "runs": runs, "budget": runs[0]["budget"]}
    if real:
        result["real"] = {flight: mean_of([run["real"][flight] for run in runs]) for flight in real}
        result["real_sd"] = {flight: sd_of([run["real"][flight] for run in runs]) for flight in real}
    return result


def run_seed(row: str, dataset: str, config: BenchmarkConfig, budget: dict[str, Any], init: str, seed: int,
             real: dict[str, Any], progress: Progress) -> dict:
    """One training run of a row and its scores (test region; real NAIP patches when there)."""
    from ...models.checkpoint import load_checkpoint
    from ..scoring.evaluate import evaluate_checkpoint
    from .real import predict_scene, score

    started = time.perf_counter()
    result = train_row(row, dataset, config, budget, init, progress, seed)
    evaluation = evaluate_checkpoint(result.best_path, dataset, [TEST], device=config.device, progress=progress)
    history = result.history
    run = {"seed": seed, "metrics": evaluation.metrics["fine"].summary(), "checkpoint": result.best_path,
           "best_epoch": result.best_epoch, "epochs": len(history), "steps": history[-1]["step"] if history else 0,
           "chips_seen": sum(record["chips"] for record in history), "chips_per_s": result.chips_per_s,
           "seconds": time.perf_counter() - started, "test_chips": evaluation.chips,
           "budget": f"{len(history)} epochs, {sum(record['chips'] for record in history)} chips"}
    if real:
        checkpoint = load_checkpoint(result.best_path)
        model = checkpoint.build_model("cpu")
        run["real"] = {flight: score(predict_scene(model, checkpoint.card, scene), scene.fine).summary()
                       for flight, scene in real.items()}
    return run


def train_row(row: str, dataset: str, config: BenchmarkConfig, budget: dict[str, Any], init: str,
              progress: Progress, seed: Optional[int] = None):
    from ..fit.config import FitConfig
    from ..fit.task import fit

    seed = config.seed if seed is None else seed
    mode = row_mode(row)
    folder = os.path.join(config.work, "runs", row if seed == config.seed else f"{row}-seed{seed}")
    prior = coarse_prior(config, progress) if mode.needs_prior else ""
    # --logit-adjust is the low-dist rows' option: Low, logit-adjustable too, stays the paper's plain baseline
    logit_adjust = config.logit_adjust if mode.logit_adjustable and mode.needs_prior else 0.0
    settings = FitConfig(dataset=dataset, output=folder, mode=mode.name,
                         epochs=budget["epochs"], batch_size=budget["batch_size"], lr=budget["lr"],
                         d_lr=budget["d_lr"], exemplar_splits=["region:exemplars"],
                         exemplar_crop=budget["exemplar_crop"], width=budget["width"], init=init, seed=seed,
                         device=config.device, progress=config.progress, plot_every=0, ema=config.ema,
                         select=config.select, prior=prior, prior_mix=config.prior_mix if prior else 0.0,
                         logit_adjust=logit_adjust)
    return fit(settings, progress)


def coarse_prior(config: BenchmarkConfig, progress: Progress) -> str:
    """p(class | NLCD code) counted on the exemplar band's real 1 m labels (once); returns its file.

    Codes the band lacks (open water, 11) keep Table S1's class, so their blocks still teach.
    """
    from ..data.priors import count_prior, write_prior

    path = os.path.join(config.work, "prior_exemplars_filled.json")
    if not os.path.exists(path):
        prior = count_prior(os.path.join(config.shared, LABELS), os.path.join(config.shared, NLCD),
                            region=PRIOR_REGION, progress=progress, fill_missing=True)
        write_prior(path, prior)
    return path


def real_scenes(config: BenchmarkConfig) -> dict[str, Any]:
    """The real NAIP dev patches per flight (empty when the shared folder lacks them)."""
    from .real import FLIGHTS, REAL_DATA, real_scene

    if not os.path.isdir(os.path.join(config.shared, REAL_DATA)):
        return {}
    return {flight: real_scene(config.shared, flight) for flight in FLIGHTS}


def mean_of(summaries: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(sum(summary[key] for summary in summaries) / len(summaries)) for key in METRICS}


def sd_of(summaries: list[dict[str, float]]) -> dict[str, float]:
    """Sample standard deviation of each figure over seeds (0 for a single run)."""
    if len(summaries) < 2:
        return {key: 0.0 for key in METRICS}
    means = mean_of(summaries)
    return {key: math.sqrt(sum((summary[key] - means[key]) ** 2 for summary in summaries) / (len(summaries) - 1))
            for key in METRICS}


def pretrained_encoder(dataset: str, config: BenchmarkConfig, budget: dict[str, Any], progress: Progress) -> str:
    """MAE-pretrain a ResNet-18 on the training images (no labels) and return its encoder file."""
    from ..pretrain.config import PretrainConfig
    from ..pretrain.task import pretrain

    settings = PretrainConfig(dataset=dataset, output=os.path.join(config.work, "runs", "pretrain"),
                              splits=["train"], val_splits=["val"], epochs=budget["pretrain_epochs"],
                              width=budget["width"], lr=budget["lr"], seed=config.seed, device=config.device,
                              progress=config.progress, plot_every=0)
    return pretrain(settings, progress).encoder_path


def gap_closed(rows: dict[str, dict]) -> dict[str, float]:
    """Share of the Low → High mIoU gap each aggregation row closes (the paper: 38 % for Agg+Adv+Pre)."""
    if LOW.name not in rows or HIGH.name not in rows:
        return {}
    low, high = rows[LOW.name]["metrics"]["macro_iou"], rows[HIGH.name]["metrics"]["macro_iou"]
    return {row: (rows[row]["metrics"]["macro_iou"] - low) / (high - low)
            for row in COARSE_ROWS if row in rows and high != low}


def _figure(value: float, sd: Optional[float]) -> str:
    return f"{100 * value:.2f}" + (f" ± {100 * sd:.2f}" if sd else "")


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table, with the paper's figures beside ours."""
    budget = results["budget"]
    setting = "quick, CPU budget" if results["quick"] else "full, the paper's budget"
    seeds = results.get("seeds", 1)
    lines = [f"Low2High benchmark ({setting}): "
             f"U-Net/ResNet-18 width {budget['width']}, {budget['epochs']} epochs of batch {budget['batch_size']} "
             f"(480-px crops), lr {budget['lr']:g}; scored against the real 1 m Chesapeake labels of the held-out "
             f"test region ({TEST})" + (f"; mean ± sd over {seeds} training seeds" if seeds > 1 else "")
             + (f"; weights averaged (EMA {results['ema']:g})" if results.get("ema") else "")
             + ("; the last epoch's model" if results.get("select") == "last" else "") + ". Real NAIP: mIoU on the 8 "
             "real patches of wv_naip_dev, 2014 / earlier flight.", "",
             "| Row | Acc | F1 | mIoU | real NAIP mIoU | training budget | paper Acc / F1 / mIoU |",
             "|---|---|---|---|---|---|---|"]
    for row, result in results["rows"].items():
        metrics, sd = result["metrics"], result.get("sd", {})
        paper = " / ".join(f"{value:.2f}" for value in PAPER[row]) if row in PAPER else "—"
        figures = " | ".join(_figure(metrics[key], sd.get(key)) for key in METRICS)
        real = " / ".join(_figure(result["real"][flight]["macro_iou"], result.get("real_sd", {}).get(flight, {})
                                  .get("macro_iou")) for flight in result["real"]) if result.get("real") else "—"
        lines.append(f"| {NAMES[row]} | {figures} | {real} | {result['budget']} | {paper} |")
    for row, share in results["gap_closed"].items():
        lines.append(f"\n{NAMES[row]} closes {100 * share:.1f} % of the Low → High mIoU gap (paper: Agg+Adv+Pre 38 %).")
    lines.append(f"\nTotal time {results['seconds'] / 60:.1f} min.")
    return "\n".join(lines)
