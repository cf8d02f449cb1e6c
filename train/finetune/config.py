"""Settings of a fine-tuning run (``low2high:finetune``; :func:`.task.finetune`).

Fine-tuning starts from a trained model (the bundled demo model by default) and adapts it to the
user's imagery with the training module's own coarse-label losses and steps, on the n × n blocks
of the coarse labels that lie wholly inside the polygons the user drew. The defaults are the ones
measured on the 2-core CPU (``python -m low2high.train.benchmarks.finetune``; docs/quality.md): the
guard and TEACHER make a run never worse than its base model; no loss was measured to gain on real imagery.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...core.contract import INPUT_STATISTICS
from ...core.errors import Low2HighError
from ..config import field
from ..fit.config import FitConfig
from ..modes import FINETUNE_LOSSES, Mode, training_mode

LOSSES = FINETUNE_LOSSES
"""LOSS choices: the training modes that learn from coarse labels alone and train a U-Net (:mod:`..modes`)."""
FREEZE_BELOW_BLOCKS = 400
"""Freeze the encoder (auto) when the areas hold fewer usable blocks than this: 0.36 km² of 30 m
cells. Below it there is too little supervision to move a ResNet-18 without forgetting."""
MIN_BLOCKS = 8
"""Fewest usable blocks fine-tuning accepts (8 NLCD cells are 0.7 ha): fewer cannot teach anything."""
MIN_TRAIN_BLOCKS = 6
"""Fewest blocks left for training after the validation share is set aside."""
NORMALISATIONS = INPUT_STATISTICS
"""auto, image, model: segment's INPUT_STATISTICS, resolved by its one rule (core.contract.statistics_source)."""
_DEFAULTS = FitConfig()


@dataclass
class FinetuneConfig:
    """Everything a fine-tuning run needs; the fields mirror ``low2high:finetune``'s parameters."""

    image: str = field("", "INPUT: the imagery to adapt to (8-bit, the base model's bands)")
    labels: str = field("", "LOW_RES_LABELS: coarse labels (e.g. 30 m NLCD), raw codes, any CRS")
    output: str = field("", "OUTPUT_MODEL: the fine-tuned model (.pt); an .onnx export is written beside it")
    areas: list[str] = field([], "AREAS: polygons (WKT) where the coarse labels teach the model")
    areas_crs: str = field("", "CRS of the polygons (WKT or EPSG:code); empty: the image's")
    taxonomy: str = field("nlcd", "LABEL_TAXONOMY: nlcd, chesapeake, enviroatlas, merged or custom")
    mapping: str = field("", "custom taxonomy only: code:class,... or a .json / .csv file")
    model: str = field("", "MODEL: the model to start from (.pt); empty: the bundled demo model")
    exemplars: str = field("", "EXEMPLARS: a 1 m class raster in the merged taxonomy; empty: the bundled real "
                               "Chesapeake exemplars")
    loss: str = field("agg", "LOSS, one of the training modes listed above: " + ", ".join(LOSSES), choices=LOSSES)
    prior: str = field("", "PRIOR: coarse prior p(merged class | raw code), JSON, for the distribution losses and "
                           "for judging steps; empty: the bundled one for NLCD labels, none otherwise")
    teacher: float = field(1.0, "TEACHER: weight of the base model's own predictions as a second target (mean "
                                "per-pixel KL divergence; 0: off), so the model changes only where the coarse "
                                "labels give a reason")
    steps: int = field(200, "STEPS: optimisation steps at most (fewer when validation stops early)")
    lr: float = field(1e-4, "LEARNING_RATE of Adam (the paper's 1e-4)")
    batch_size: int = field(4, "BATCH_SIZE: chips per step")
    device: str = field("auto", "DEVICE: auto (a GPU when there is one), cpu or cuda")
    seed: int = field(0, "SEED: chip order, augmentation, validation blocks, exemplars (CPU runs are bitwise "
                         "reproducible)")
    freeze_encoder: Optional[bool] = field(None, f"FREEZE_ENCODER: train the decoder only; empty: frozen when the "
                                                 f"areas hold fewer than {FREEZE_BELOW_BLOCKS} usable blocks")
    augment: bool = field(True, "AUGMENT: random flips and quarter turns of every chip")
    validation_share: float = field(0.2, "VALIDATION_SHARE: share of the drawn blocks held out to keep the best "
                                         "step and stop early (0: keep the last step)")
    normalisation: str = field("auto", "NORMALISATION, input statistics: image (the drawn areas' own per-band mean "
                                        "and std, stored in the new model's card: a new flight's gain and offset "
                                        "are undone before any step), model (the base model's, as trained), blend "
                                        "(half each; the card keeps the base's, which segment blends with its "
                                        "region's) or auto (segment's INPUT_STATISTICS rule: what the base model's "
                                        "card asks; the demo's: blend)")
    factor: Optional[int] = field(None, "block side in image pixels; empty: label pixel size / image pixel size")
    chip_blocks: Optional[int] = field(None, "chip side in blocks; empty: about 256 px (8 blocks of 30 m)")
    chip_memory_mb: Optional[float] = field(None, "megabytes of chips held in memory; empty: the environment "
                                                  "variable LOW2HIGH_FINETUNE_CHIP_MB, else 256. Areas holding "
                                                  "more are sampled (seeded, over every polygon in proportion to "
                                                  "its blocks)")
    eval_every: Optional[int] = field(None, "steps between validations; empty: STEPS / 20 (at least 5)")
    patience: int = field(6, "validations without improvement before stopping early (0: never stop early)")
    log_every: int = field(10, "steps between log lines of the loss")
    exemplar_crop: int = field(128, "side of the label maps the discriminator judges (a power of two)")
    adv_weight: float = field(_DEFAULTS.adv_weight, "weight of the adversarial term")
    d_lr: Optional[float] = field(None, "learning rate of the discriminator; empty: LEARNING_RATE")
    freeze_batchnorm: Optional[bool] = field(None, "keep BatchNorm statistics fixed while training; empty: "
                                                   "fixed where the encoder is frozen")
    amp: bool = field(True, "bfloat16 autocast on GPUs (no effect on the CPU)")
    onnx: bool = field(True, "also write the .onnx export beside the model")

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise Low2HighError(f"LOSS must be one of {', '.join(LOSSES)} (got '{self.loss}').")
        if self.normalisation not in NORMALISATIONS:
            raise Low2HighError(f"normalisation must be one of {', '.join(NORMALISATIONS)} "
                                f"(got '{self.normalisation}').")
        for name in ("steps", "batch_size", "log_every", "exemplar_crop"):
            if getattr(self, name) < 1:
                raise Low2HighError(f"{name.upper()} must be at least 1 (got {getattr(self, name)}).")
        for name in ("chip_blocks", "eval_every", "factor"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise Low2HighError(f"{name} must be at least 1 (got {value}).")
        if self.chip_memory_mb is not None and not 0 < self.chip_memory_mb < float("inf"):
            raise Low2HighError(f"chip_memory_mb must be a number of MB above 0 (got {self.chip_memory_mb}).")
        if not self.lr > 0 or (self.d_lr is not None and not self.d_lr > 0):
            raise Low2HighError(f"LEARNING_RATE must be greater than 0 (got {self.lr}).")
        if not 0 <= self.validation_share < 1:
            raise Low2HighError(f"VALIDATION_SHARE must be from 0 to below 1 (got {self.validation_share}).")
        if self.patience < 0 or self.adv_weight < 0:
            raise Low2HighError("patience and adv_weight must not be negative.")
        if not self.teacher >= 0:
            raise Low2HighError(f"TEACHER must be 0 (off) or more (got {self.teacher}).")

    @property
    def training_mode(self) -> Mode:
        """LOSS as the training mode it names (checked by ``__post_init__``)."""
        return training_mode(self.loss)

    def evaluation_interval(self) -> int:
        """Steps between validations: every twentieth of the run, at least 5."""
        return self.eval_every or max(5, self.steps // 20)
