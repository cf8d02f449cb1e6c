"""The tile layout and batch size of a segment run: the user's tile size, or one chosen within a budget.

Planned once: the run carries the :class:`TilePlan` (its :class:`~.tiling.TileLayout`) to the pipeline.

When TILE_SIZE is empty and the model takes any size, tiles are the smallest whose layout
computes at most :data:`.tiling.MAX_OVERHEAD` × the region's pixels with the model's overlap
(fixed 512-px tiles with a 64 px overlap computed 1.51 × the raster), as long as the model's
working memory for one batch stays within the memory budget; the log states the estimate and
the budget. On a GPU the batch fills a share of the free GPU memory instead of being one tile.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ...core.errors import Low2HighError
from ...core.progress import Progress
from ..geo.grid import Window
from .model_info import ModelInfo
from .tiling import MAX_OVERHEAD, TileLayout, default_tile_side

#: Working memory budget of the model (MB), overridable by this environment variable.
MEMORY_ENVIRONMENT = "LOW2HIGH_MEMORY_MB"
DEFAULT_MEMORY_MB = 2048
#: Largest default tile side on CPU: beyond it tiles gain nothing and hold much memory.
LARGEST_DEFAULT_TILE = 2048
#: Peak working memory per tile pixel of a width-64 U-Net, measured with ONNX Runtime and
#: PyTorch on this project's CPU (peak RSS at 512-1536 px tiles minus the loaded model); it
#: scales with the network width. int8 (QDQ) holds float and integer copies of activations.
BYTES_PER_PIXEL_AT_WIDTH_64 = {"fp32": 850, "bf16": 600, "int8": 1350}
#: Share of free GPU memory a batch may use (the rest: cuDNN workspaces, fragmentation).
GPU_MEMORY_SHARE = 0.6
MAX_GPU_BATCH = 64


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles lie and how many go through the model at once."""

    layout: TileLayout
    batch_size: int


def memory_budget_mb() -> int:
    """The model's working-memory budget: ``$LOW2HIGH_MEMORY_MB`` or :data:`DEFAULT_MEMORY_MB`."""
    value = os.environ.get(MEMORY_ENVIRONMENT, "")
    try:
        return max(64, int(value)) if value else DEFAULT_MEMORY_MB
    except ValueError:
        raise Low2HighError(f"{MEMORY_ENVIRONMENT} must be a number of megabytes (got '{value}').") from None


def bytes_per_pixel(info: ModelInfo) -> float:
    """Estimated peak working memory per tile pixel for this model at its precision."""
    width = info.network_width or 64
    return BYTES_PER_PIXEL_AT_WIDTH_64.get(info.precision, 850) * width / 64


def plan_tiles(region: Window, info: ModelInfo, tile_size: Optional[int], overlap: Optional[int],
               batch_size: Optional[int], progress: Progress, streams: int = 1) -> TilePlan:
    """The tiles and batch size for classifying ``region`` with the model ``info`` (the layout is logged).

    ``streams`` forward passes run at once (see :mod:`.torch_speed`), so each holds its share of
    the budget.
    """
    overlap = min(info.tile_overlap, (tile_size or info.tile_size) // 2) if overlap is None else overlap
    per_pixel = bytes_per_pixel(info) * streams
    budget = memory_budget_mb()
    if info.fixed_tile_size:
        if tile_size and tile_size != info.fixed_tile_size:
            remedy = (" (re-export it with a resizable input, or use PRECISION int8, which does)" if info.resizable
                      else "")  # a Deepness model's graph may hold size-dependent constants: never resized
            progress.warn(f"This ONNX model only takes {info.fixed_tile_size}-pixel tiles; TILE_SIZE {tile_size} is "
                          f"ignored{remedy}.")
        tile_size = info.fixed_tile_size
    elif tile_size is None:
        largest = int((budget * 2 ** 20 / per_pixel) ** 0.5) if info.device == "cpu" else LARGEST_DEFAULT_TILE
        largest = max(256, min(LARGEST_DEFAULT_TILE, largest))
        tile_size = default_tile_side(region, overlap, min(info.tile_size, largest), largest)
        megabytes = per_pixel * tile_size ** 2 / 2 ** 20
        held = f"{streams} tiles at once" if streams > 1 else "one tile"
        progress.info(f"Tile size {tile_size} px chosen for at most {MAX_OVERHEAD:g} × the region's pixels "
                      f"with the model's {overlap} px overlap; model memory ≈ {megabytes:.0f} MB for {held} at "
                      f"{info.precision} (budget {budget} MB: set TILE_SIZE or {MEMORY_ENVIRONMENT}).")
    if batch_size is None:
        batch_size = gpu_batch_size(tile_size, per_pixel) if info.device == "cuda" else 1
    if batch_size < 1:
        raise Low2HighError(f"BATCH_SIZE must be at least 1 (got {batch_size}).")
    layout = TileLayout.plan(region, tile_size, overlap, fixed_size=bool(info.fixed_tile_size))
    concurrent = f", {streams} passes at once" if streams > 1 else ""
    progress.info(f"{layout.describe()}; {batch_size} per batch, {info.backend} {info.precision} on {info.device}"
                  f"{concurrent}.")
    return TilePlan(layout, batch_size)


def gpu_batch_size(tile_size: int, per_pixel: float) -> int:
    """Tiles per batch that fit :data:`GPU_MEMORY_SHARE` of the free GPU memory (at least 1)."""
    try:
        import torch

        free, _ = torch.cuda.mem_get_info()
    except Exception:  # no torch (ONNX Runtime on CUDA) or no CUDA context yet: a safe middle
        return 16
    fits = int(free * GPU_MEMORY_SHARE / (per_pixel * tile_size ** 2))
    return max(1, min(MAX_GPU_BATCH, fits))
