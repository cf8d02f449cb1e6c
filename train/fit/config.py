"""Settings of ``fit`` (FitConfig); its modes: :mod:`..modes`; the command and what it writes: :mod:`..commands.fit`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...core.contract import CARD_STATISTICS
from ..config import field
from ..modes import MODES, Mode, names, training_mode

SELECTIONS = ("best", "last")

RESUMABLE = ("epochs", "device", "num_workers", "cache_mb", "eval_batch_size", "examples", "plot_every", "progress",
             "save_every_minutes", "tile_size", "tile_overlap", "min_mapping_unit", "colour_refinement",
             "input_statistics", "restart")
"""Settings that may differ when a run is continued: they cannot change the weights it learns."""


@dataclass
class FitConfig:
    """Settings of ``fit`` (flags, or a YAML/JSON file with ``--config``)."""

    dataset: str = field("", "dataset folder written by build-dataset")
    output: str = field("", "run folder (created); re-running with the same settings continues the run")
    mode: str = field("agg+adv", "the training mode, one of the modes listed above: " + ", ".join(MODES),
                      choices=tuple(MODES))
    train_splits: list[str] = field(["train"], "splits to train on (region:NAME for held-out regions)")
    val_splits: list[str] = field(["val"], "splits for validation and model selection")
    epochs: int = field(100, "epochs (paper: 100); raise it and re-run to continue a finished run")
    steps_per_epoch: Optional[int] = field(None, "at most this many steps per epoch (empty: one pass over the "
                                                 "train chips); a fixed budget for comparisons")
    batch_size: int = field(8, "chips per step and process; not in the paper: 8 crops of 480 px fit a 24 GB GPU "
                               "at width 64 in bf16")
    eval_batch_size: Optional[int] = field(None, "chips per validation pass (empty: batch size)")
    lr: float = field(1e-4, "Adam learning rate of the segmentation network (paper, Sec. 4.6)")
    d_lr: float = field(1e-4, "Adam learning rate of the discriminator; not in the paper, which gives one learning "
                              "rate: the same one is the least added assumption")
    adv_weight: float = field(1.0, "weight of the adversarial term added to Eq. 1; not in the paper, which adds it "
                                   "unweighted: 1. (On the Chesapeake scene at width 16, 0.1 let the discriminator "
                                   "win and gave lower fine mIoU after 15 epochs than 1.)")
    d_steps: int = field(1, "discriminator steps per generator step; not in the paper: 1, as in hinge-loss GANs "
                            "(Lim & Ye 2017; StyleGAN2)")
    tau: float = field(1e3, "soft-argmax temperature (paper, Eq. 3)")
    blur_kernel: int = field(3, "Gaussian blur kernel side on discriminator inputs (paper, Sec. 4.6)")
    blur_sigma: float = field(0.6, "Gaussian blur sigma in pixels on discriminator inputs (paper, Sec. 4.6)")
    exemplar_splits: list[str] = field(["held-out"], "splits whose FINE labels are the exemplars (agg+adv); the "
                                                     "paper's 'small held-out dataset': no chip trained on")
    exemplar_raster: str = field("", "instead: a class raster in the merged taxonomy (e.g. Chesapeake land cover "
                                     "after low2high:remap), read by random windows")
    exemplar_band: int = field(1, "band of the exemplar raster holding the classes")
    exemplar_crop: int = field(256, "side of exemplar and prediction crops the discriminator judges (Table S6: "
                                    "256); training crops smaller than it are judged whole (power-of-two side)")
    crop: Optional[int] = field(None, "training crop side, a multiple of lcm(n, 32) (480 for n = 30) at whole-cell "
                                      "offsets; empty: the largest inside a chip; 0: whole chips, padded")
    augment: bool = field(True, "random flips and quarter turns; not in the paper: they preserve overhead labels and "
                                "regularise small datasets")
    aggregate: str = field("sum", "how Eq. 1 aggregates a cell's logits: sum (paper) or mean (sum / n^2)")
    prior: str = field("", f"modes {names(lambda mode: mode.needs_prior)}: the coarse prior p(class | raw code), "
                           "JSON from `coarse-prior` or by hand; blocks whose code it lacks are ignored")
    prior_mix: float = field(0.0, "modes with a prior: blend the cell's merged label into its target, (1 - m) "
                                  "prior + m one-hot (0: the prior alone)")
    logit_adjust: float = field(0.0, f"modes {names(lambda mode: mode.logit_adjustable)}: train logits plus this "
                                     "times log(class share of the training targets) (logit adjustment, Menon et "
                                     "al., ICLR 2021), so the saved model's argmax leans towards rare classes "
                                     "(impervious under NLCD's mixed codes) instead of drowning them in common "
                                     "ones; 1: fully balanced, 0: off")
    photometric: float = field(0.0, "strength of photometric augmentation (per-band gain/offset, brightness, "
                                    "contrast, noise, blur; 1 = strong, 0 = off); not in the paper: it makes one "
                                    "rendered or real flight look like many")
    standardisation: str = field("dataset", "input statistics: dataset (the train split's mean/std, recorded on the "
                                            "card) or tile (each chip / inference tile standardised by its own "
                                            "mean/std, recorded on the card so segment does the same)")
    ema: float = field(0.0, "keep an exponential moving average of the weights with this decay per step (e.g. "
                            "0.99) and validate, select and save it instead of the raw weights (0: off)")
    select: str = field("best", "best: the epoch with the best validation score (the paper's resolution-specific "
                                "selection); last: the last epoch (with --ema, a smoothed end point)")
    width: int = field(64, "U-Net (ResNet-18) base width: 64 is the paper's network; 16 trains ~10x faster on a CPU")
    pixel_hidden: int = field(32, "hidden units of the pixel MLP (4 band values need few; 32 keeps it cheaper per "
                                  "pixel than the width-16 U-Net)")
    pixel_layers: int = field(2, "hidden layers of the pixel MLP")
    init: str = field("", "start from encoder.pt of `pretrain` (ResNet-18 weights) or a Low2High checkpoint of the "
                          "same architecture, width and bands")
    seed: int = field(0, "seed of initialisation, data order, crops and exemplars")
    device: str = field("auto", "auto (GPU when there is one), cpu or cuda")
    amp: bool = field(True, "bfloat16 autocast on GPUs (no effect on the CPU)")
    deterministic: bool = field(False, "deterministic cuDNN kernels (slower; some GPU ops stay non-deterministic); CPU "
                                       "runs are always bitwise reproducible")
    num_workers: Optional[int] = field(None, "DataLoader workers (empty: 0 on the CPU, where the chips are cached in "
                                             "memory; 4 on a GPU)")
    cache_mb: float = field(4096.0, "keep the chips in memory when they take at most this many MB")
    examples: int = field(4, "validation chips drawn in examples.png")
    plot_every: int = field(1, "draw curves.png and examples.png every this many epochs (0: at the end only)")
    progress: bool = field(True, "show progress bars")
    save_every_minutes: float = field(10.0, "also save the state this often within an epoch (0: epoch ends only)")
    tile_size: int = field(512, "inference tile side written into the model card (a multiple of 32)")
    tile_overlap: int = field(64, "inference tile overlap written into the model card")
    min_mapping_unit: float = field(0.0, "segment's default MIN_MAPPING_UNIT (m²) written into the model card: "
                                         "patches of the class map smaller than this are merged into a neighbour")
    colour_refinement: bool = field(False, "segment's default COLOUR_REFINEMENT written into the model card: sharpen "
                                           "maps with each image's class colours, fitted on the model's surest pixels")
    input_statistics: str = field("model", "what segment's INPUT_STATISTICS auto feeds the model, written into its "
                                           "card: model (the dataset's statistics, as trained), blend (half those, "
                                           "half the classified region's own) or image (the region's own); "
                                           "ignored with --standardisation tile", choices=CARD_STATISTICS)
    restart: bool = field(False, "discard the run in the output folder and start over")

    @property
    def training_mode(self) -> Mode:
        return training_mode(self.mode)

    def __post_init__(self) -> None:
        mode = training_mode(self.mode)  # ValueError naming the modes
        if self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {', '.join(SELECTIONS)} (got {self.select!r})")
        if self.standardisation not in ("dataset", "tile"):
            raise ValueError(f"standardisation must be dataset or tile (got {self.standardisation!r})")
        if not 0 <= self.ema < 1 or not 0 <= self.prior_mix <= 1 or self.photometric < 0:
            raise ValueError("ema must be in [0, 1), prior_mix in [0, 1] and photometric at least 0")
        if self.logit_adjust and not mode.logit_adjustable:
            raise ValueError(f"logit_adjust applies to the per-pixel coarse modes "
                             f"{names(lambda mode: mode.logit_adjustable)} (got mode {self.mode})")
        if self.logit_adjust < 0:
            raise ValueError(f"logit_adjust must not be negative (got {self.logit_adjust})")
        if self.aggregate not in ("sum", "mean"):
            raise ValueError(f"aggregate must be sum or mean (got {self.aggregate!r})")
        for name in ("epochs", "batch_size", "width", "pixel_hidden", "d_steps", "exemplar_crop", "blur_kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        for name in ("lr", "d_lr", "tau", "blur_sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive (got {getattr(self, name)})")
        if self.adv_weight < 0 or self.pixel_layers < 0 or self.examples < 0 or self.plot_every < 0:
            raise ValueError("adv_weight, pixel_layers, examples and plot_every must not be negative")
        if self.tile_size < 32 or self.tile_size % 32 or not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError(f"tile_size must be a multiple of 32 and tile_overlap from 0 to tile_size - 1 (got "
                             f"{self.tile_size}, {self.tile_overlap})")
        if not self.min_mapping_unit >= 0:
            raise ValueError(f"min_mapping_unit is an area in m², 0 or more (got {self.min_mapping_unit})")
        if self.input_statistics not in CARD_STATISTICS:
            raise ValueError(f"input_statistics must be one of {', '.join(CARD_STATISTICS)} "
                             f"(got {self.input_statistics!r})")
