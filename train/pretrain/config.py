"""Settings of ``pretrain`` (PretrainConfig) and its file names; the command: :mod:`..commands.pretrain`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..config import field

ENCODER_FILE = "encoder.pt"
RECONSTRUCTION_FILE = "reconstruction.png"
RESUMABLE = ("epochs", "device", "num_workers", "cache_mb", "examples", "plot_every", "progress",
             "save_every_minutes", "restart")


@dataclass
class PretrainConfig:
    """Settings of ``pretrain`` (flags, or a YAML/JSON file with ``--config``)."""

    dataset: str = field("", "dataset folder written by build-dataset (only its images are read)")
    output: str = field("", "run folder (created); re-running with the same settings continues the run")
    splits: list[str] = field(["train"], "splits whose images are used ('all': every chip, e.g. for unlabelled "
                                         "imagery)")
    val_splits: list[str] = field(["val"], "splits for the validation reconstruction loss (empty: none)")
    epochs: int = field(100, "epochs (paper: 100 for Table 3, 300 for Fig. S4)")
    steps_per_epoch: Optional[int] = field(None, "at most this many steps per epoch (empty: one pass)")
    batch_size: int = field(16, "image crops per step and process; not in the paper")
    lr: float = field(1e-4, "Adam learning rate (the paper's optimiser settings, Sec. 4.6)")
    mask_ratio: float = field(0.75, "share of patches hidden from the encoder (paper: 75 %)")
    patch_size: int = field(32, "patch side in pixels (even; a multiple dividing image_size); not in the paper: 32 "
                                "gives the ResNet-18 a 1 x 1 stage-4 map per patch")
    image_size: int = field(256, "side of the random image crops (a multiple of patch_size, at most the chip size)")
    embed_dim: int = field(256, "encoder token width")
    depth: int = field(4, "encoder transformer layers")
    num_heads: int = field(8, "attention heads")
    decoder_dim: int = field(128, "decoder token width")
    decoder_depth: int = field(2, "decoder transformer layers")
    norm_pix_loss: bool = field(False, "reconstruct per-patch normalised pixels (MAE's option; Eq. S1 uses plain "
                                       "pixels)")
    width: int = field(64, "ResNet-18 base width; must equal fit's --width")
    augment: bool = field(True, "random flips and quarter turns of the crops")
    seed: int = field(0, "seed of initialisation, data order, crops and masks")
    device: str = field("auto", "auto (GPU when there is one), cpu or cuda")
    amp: bool = field(True, "bfloat16 autocast on GPUs (no effect on the CPU)")
    deterministic: bool = field(False, "deterministic cuDNN kernels (slower; some GPU ops stay non-deterministic); CPU "
                                       "runs are always bitwise reproducible")
    num_workers: Optional[int] = field(None, "DataLoader workers (empty: 0 on the CPU, 4 on a GPU)")
    cache_mb: float = field(4096.0, "keep the chips in memory when they take at most this many MB")
    examples: int = field(3, "validation (else training) chips drawn in reconstruction.png")
    plot_every: int = field(1, "draw the figures every this many epochs (0: at the end only)")
    progress: bool = field(True, "show progress bars")
    save_every_minutes: float = field(10.0, "also save the state this often within an epoch (0: epoch ends only)")
    restart: bool = field(False, "discard the run in the output folder and start over")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "width", "image_size", "patch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive (got {self.lr})")

    def mae_config(self, in_channels: int) -> Any:
        from ...models.mae import MAEConfig

        return MAEConfig(in_channels=in_channels, image_size=self.image_size, patch_size=self.patch_size,
                         width=self.width, embed_dim=self.embed_dim, depth=self.depth, num_heads=self.num_heads,
                         decoder_dim=self.decoder_dim, decoder_depth=self.decoder_depth, mask_ratio=self.mask_ratio,
                         norm_pix_loss=self.norm_pix_loss)
