"""Benchmark of ``segment``: model-only vs end-to-end throughput, memory, torch vs ONNX Runtime.

``python -m low2high.low2high_plugin.inference.benchmark`` (or ``make bench``) prints one JSON document:

- ``matmul_gflops``: the machine's measured dense matrix-multiply rate (the yardstick);
- per backend (torch, onnx): model-only forward throughput on random tiles of the side the
  tiler really uses for the large raster (Mpx/s of tile pixels), the model's achieved GFLOP/s
  and its fraction of the matmul rate; end-to-end ``segment`` throughput on a generated raster of
  at least 64 Mpx (Mpx/s of raster pixels, reading, blending and writing included) and its ratio
  to the model-only figure; peak RSS of a ``segment`` process on a 4 Mpx and on the large raster;
- ``tiling_overhead``: tile pixels computed per raster pixel (overlaps), which caps the ratio.

Each end-to-end run is a fresh process so that its peak RSS is its own. The model is the
paper's U-Net/ResNet-18 (width 64) with random weights: speed does not depend on the weights.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Optional

import numpy as np
from osgeo import gdal

from ..geo.grid import Window
from ..resources import PACKAGE_ROOT, resource_path
from ..geo.raster_io import RasterSource, create_geotiff
from .tiling import TileLayout
from .measure import best_seconds, machine, matmul_gflops, peak_rss_mb, random_tiles

SAMPLE = resource_path("sample", "naip_sample.tif")
BANDS = 4


def parse_arguments(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m low2high.low2high_plugin.inference.benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=64, help="U-Net width (64: the paper's model)")
    parser.add_argument("--tile-size", type=int, default=2048, help="largest tile side")
    parser.add_argument("--overlap", type=int, default=32, help="tile overlap in pixels")
    parser.add_argument("--batch-size", type=int, default=None, help="tiles per batch (default: 1 on CPU, 16 on GPU)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--megapixels", type=float, default=64.0, help="size of the large raster")
    parser.add_argument("--backends", default="torch,onnx", help="comma-separated: torch, onnx")
    parser.add_argument("--work", default=os.path.join(PACKAGE_ROOT, ".build", "bench"), help="folder for rasters and models")
    parser.add_argument("--child", nargs=5, metavar=("INPUT", "MODEL", "TILE", "OVERLAP", "BATCH"), help=argparse.SUPPRESS)
    parser.add_argument("--child-device", default="auto", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build_models(work: str, width: int, tile: int, device: str) -> dict:
    """A random-weight checkpoint and its ONNX export (fixed to the tile side used)."""
    import torch

    from ...models.checkpoint import ModelCard, save_checkpoint
    from ...models.onnx_export import export_onnx
    from ...models.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=BANDS, num_classes=4, width=width)).eval()
    card = ModelCard(mean=[0.45] * BANDS, std=[0.2] * BANDS, tile_size=tile, tile_overlap=32,
                     description="benchmark model: random weights")
    paths = {"torch": os.path.join(work, f"bench_w{width}_t{tile}.pt"),
             "onnx": os.path.join(work, f"bench_w{width}_t{tile}.onnx")}
    if not os.path.exists(paths["torch"]):
        save_checkpoint(paths["torch"], model, card)
    if not os.path.exists(paths["onnx"]):
        export_onnx(model, card, paths["onnx"])
    return paths


def make_raster(path: str, side: int) -> str:
    """A ``side`` × ``side`` NAIP-like raster: the sample image mirrored into a mosaic (cached)."""
    if os.path.exists(path):
        return path
    sample = RasterSource.open(SAMPLE)
    pixels = sample.read(sample.grid.full_window)
    block = pixels.shape[-1]
    partial = path + ".partial.tif"
    target = create_geotiff(partial, sample.grid.subgrid(Window(0, 0, side, side)), BANDS, gdal.GDT_Byte, 0)
    for row in range(0, side, block):
        for col in range(0, side, block):
            piece = pixels[:, :: (-1) ** (row // block), :: (-1) ** (col // block)]
            height, width = min(block, side - row), min(block, side - col)
            target.WriteRaster(col, row, width, height, np.ascontiguousarray(piece[:, :height, :width]).tobytes())
    target = None
    os.replace(partial, path)
    return path


def forward_throughput(backend: str, model_path: str, side: int, batch: int, device: str) -> float:
    """Mpx/s of tile pixels through the model alone (normalised input ready in memory)."""
    from .predictor import load_predictor

    predictor = load_predictor(model_path, device)
    tiles = random_tiles(batch, BANDS, side)
    seconds = best_seconds(lambda: predictor.predict(tiles), repeats=3, warmup=1)
    return batch * side * side / seconds / 1e6


def run_child(args: argparse.Namespace) -> None:
    """One ``segment`` run in this process; prints its figures (used for clean peak RSS)."""
    from .segment import SegmentRequest, segment

    source, model, tile, overlap, batch = args.child
    with tempfile.TemporaryDirectory() as folder:
        result = segment(SegmentRequest(source, os.path.join(folder, "map.tif"), model, tile_size=int(tile),
                                        overlap=int(overlap), batch_size=int(batch), device=args.child_device))
        print(json.dumps({"seconds": result.stats.seconds, "model_seconds": result.stats.model_seconds,
                          "reader_cpu_seconds": result.stats.reader_cpu_seconds,
                          "writer_cpu_seconds": result.stats.writer_cpu_seconds,
                          "megapixels": result.megapixels, "device": result.model.device,
                          "peak_rss_mb": peak_rss_mb()}))


def end_to_end(source: str, model: str, tile: int, overlap: int, batch: int, device: str) -> dict:
    command = [sys.executable, "-m", "low2high.low2high_plugin.inference.benchmark", "--child", source, model, str(tile),
               str(overlap), str(batch), "--child-device", device]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"segment run failed: {completed.stderr[-2000:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    figures["mpx_per_s"] = figures["megapixels"] / figures["seconds"]
    return figures


def main(argv: Optional[list] = None) -> int:
    args = parse_arguments(argv)
    if args.child:
        run_child(args)
        return 0
    import torch

    from ...models.flops import count_flops
    from ...models.unet import UNet, UNetConfig

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    batch = args.batch_size or (16 if device == "cuda" else 1)
    os.makedirs(args.work, exist_ok=True)
    large_side = int(np.ceil(np.sqrt(args.megapixels * 1e6) / 32) * 32)
    layout = TileLayout.plan(Window(0, 0, large_side, large_side), args.tile_size, args.overlap)
    side = layout.tile_width
    rasters = {"4": make_raster(os.path.join(args.work, "raster_2048.tif"), 2048),
               "large": make_raster(os.path.join(args.work, f"raster_{large_side}.tif"), large_side)}
    models = build_models(args.work, args.width, side, device)
    flops_per_mpx = count_flops(UNet(UNetConfig(BANDS, 4, args.width)), side, side) / (side * side) * 1e6
    rates = matmul_gflops(device)
    reference_rate = rates["bf16" if device == "cuda" else "fp32"]
    report = {"machine": machine(), "device": device, "matmul_gflops": rates,
              "model": {"architecture": "U-Net/ResNet-18", "width": args.width, "bands": BANDS,
                        "gflop_per_mpx": flops_per_mpx / 1e9},
              "tile_size": args.tile_size, "tile_side_used": side, "overlap": args.overlap, "batch_size": batch,
              "large_raster_mpx": large_side ** 2 / 1e6,
              "tiling_overhead": layout.count * side * side / large_side ** 2, "backends": {}}
    for backend in args.backends.split(","):
        forward = forward_throughput(backend, models[backend], side, batch, device)
        small = end_to_end(rasters["4"], models[backend], args.tile_size, args.overlap, batch, device)
        large = end_to_end(rasters["large"], models[backend], args.tile_size, args.overlap, batch, device)
        achieved = forward * flops_per_mpx / 1e9
        report["backends"][backend] = {
            "forward_mpx_per_s": forward,
            "achieved_gflops": achieved,
            "fraction_of_matmul": achieved / reference_rate,
            "end_to_end_mpx_per_s": large["mpx_per_s"],
            "end_to_end_over_forward": large["mpx_per_s"] / forward,
            "model_busy_fraction": large["model_seconds"] / large["seconds"],
            "io_cpu_seconds_per_mpx": (large["reader_cpu_seconds"] + large["writer_cpu_seconds"]) / large["megapixels"],
            "model_seconds_per_mpx": large["model_seconds"] / large["megapixels"],
            "end_to_end_4mpx_mpx_per_s": small["mpx_per_s"],
            "peak_rss_mb_4mpx": small["peak_rss_mb"],
            "peak_rss_mb_large": large["peak_rss_mb"],
            "rss_large_over_4mpx": large["peak_rss_mb"] / small["peak_rss_mb"],
        }
        print(json.dumps({backend: report["backends"][backend]}), file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
