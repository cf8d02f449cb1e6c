"""``make bench``: segment against a plain fp32 ONNX Runtime 512/64 tiling loop, on one raster.

``python -m low2high.benchmarks.segment_speed`` prints one table per model, every row
measured in the same invocation on the same generated raster (the sample image mirrored into a
mosaic) and the same weights:

- ``reference``: :func:`.reference_loop.reference_loop`, the Deepness-like loop (fixed-size
  512-px ONNX export, 64 px overlap, fp32, one tile at a time);
- ``segment <precision>``: ``low2high:segment`` with PRECISION fp32, int8 and ``auto-onnx`` (auto)
  on the same fixed-size .onnx file (segment runs a resizable copy of it), bf16 and ``auto`` on
  the .pt checkpoint it was exported from (bf16 runs through PyTorch, so auto can only choose it
  when given the .pt, the file training and finetune write); default tiles and overlap (the
  model's 64 px);
- ``first``: ``auto`` on the .pt with an empty cache: a model's first run on a machine, which
  exports, quantises and measures the precisions before classifying;
- ``cuda``: ``auto`` on the .pt on a CUDA GPU (batches sized to its free memory); skipped, and
  said unmeasured, where PyTorch sees no GPU.

Columns: seconds, Mpx/s of raster and its ratio to the reference; CPU seconds per Mpx (the whole
process, imports included) and its ratio, which other users of a shared machine disturb less than
wall time; peak RSS and its ratio to the reference's; model pixels computed per raster pixel; class
agreement with segment's fp32 map; the share of the wall time the model was busy. Each run is a
fresh process (its peak RSS is its own). The one-off costs of ``auto`` and ``int8`` (quantisation
and the precision trial, paid once per model and machine and kept in the cache) are paid by an
untimed warm-up run on the 1 Mpx sample image, and printed. The table's first line names the CPU,
its precision flags and the load average. Models: ``calibrated64``, the paper's U-Net/ResNet-18 at
width 64 with random weights and its head calibrated so that the map holds the four classes equally
(issue 21's model), ``random64`` (the same weights uncalibrated), the bundled demo model, a trained
width-64 checkpoint when one is given (``--trained``), and ``deepness``: the width-64 network taking
3 bands as a Deepness-style ONNX file (Deepness metadata only, no Low2High description, no .pt; its
rows are the reference and the .onnx ones, and both it and segment feed it the raster's first three
bands). The machine is shared, so quote ratios within one run, not absolute rates; ``--repeats N``
runs every row N times, the rows taking turns, and reports each row's median run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Optional

import numpy as np
from osgeo import gdal

from ..core.devices import DEVICES
from ..core.files import atomic_path, atomic_write_json
from ..core.resources import PACKAGE_ROOT, resource_path
from ..engine.geo.grid import Window
from ..engine.geo.raster_io import RasterSource, atomic_output, create_geotiff
from ..engine.inference.model_cache import CACHE_ENVIRONMENT
from .measure import machine, peak_rss_mb

SAMPLE = resource_path("sample", "naip_sample.tif")
DEMO = resource_path("models", "demo.pt")
BANDS = 4
TRAINED_DEFAULT = os.path.join(PACKAGE_ROOT, ".build", "bench", "trained_w64.pt")
ROWS = ("reference", "fp32", "bf16", "int8", "auto", "auto-onnx", "first", "cuda")
#: Rows run on the .pt checkpoint; the others run on its fixed-size ONNX export.
CHECKPOINT_ROWS = ("bf16", "auto", "first", "cuda")
#: CPU flags that decide the precisions (:mod:`.precision`), printed with every table.
SPEED_FLAGS = ("avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8", "amx_tile")


def row_precision(row: str) -> str:
    """The PRECISION a segment row asks for ("auto-onnx" is auto on the .onnx; "first" is auto with an
    empty cache, so it pays the precision trial; "cuda" is auto on the GPU)."""
    return "auto" if row in ("first", "cuda") else row.removesuffix("-onnx")


def parse_arguments(argv: Optional[list] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m low2high.benchmarks.segment_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=2048,
                        help="raster side in pixels (a square mosaic of the sample); 5000 is the issue's raster")
    parser.add_argument("--models", default="calibrated64,demo,trained",
                        help="comma-separated: calibrated64 (width 64, random weights, head calibrated to four "
                             "equally common classes: issue 21's model), random64 (the same weights uncalibrated), "
                             "demo, trained, deepness (a Deepness-style .onnx of the width-64 network on 3 bands)")
    parser.add_argument("--trained", default=TRAINED_DEFAULT,
                        help="a trained .pt checkpoint (e.g. `python -m low2high.train fit --width 64 ...`'s best.pt)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated subset of {', '.join(ROWS)}")
    parser.add_argument("--device", choices=list(DEVICES), default="auto")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every row this many times, rows interleaved, and report each row's median run")
    parser.add_argument("--flatness", action="store_true",
                        help="also run auto on a 4 Mpx and a 64 Mpx raster (peak RSS flat in raster size?)")
    parser.add_argument("--work", default=os.path.join(PACKAGE_ROOT, ".build", "bench"),
                        help="folder for rasters and models")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "INPUT", "MODEL", "OUTPUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-precision", default="auto", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def make_raster(path: str, side: int) -> str:
    """A ``side`` × ``side`` NAIP-like raster: the sample image mirrored into a mosaic (cached)."""
    if os.path.exists(path):
        return path
    sample = RasterSource.open(SAMPLE)
    pixels = sample.read(sample.grid.full_window)
    block = pixels.shape[-1]
    with atomic_output(path) as partial:  # a killed run's half mosaic is swept, never taken for the cache
        target = create_geotiff(partial, sample.grid.subgrid(Window(0, 0, side, side)), BANDS, gdal.GDT_Byte, 0)
        for row in range(0, side, block):
            for col in range(0, side, block):
                piece = pixels[:, :: (-1) ** (row // block), :: (-1) ** (col // block)]
                height, width = min(block, side - row), min(block, side - col)
                target.WriteRaster(col, row, width, height, np.ascontiguousarray(piece[:, :height, :width]).tobytes())
        target = None
    return path


def model_files(name: str, work: str, trained: str) -> Optional[dict]:
    """The .pt checkpoint and its fixed 512-px ONNX export (what Deepness and segment are given)."""
    import torch

    from ..models.checkpoint import ModelCard, load_checkpoint, save_checkpoint
    from ..models.onnx_export import export_onnx
    from ..models.unet import UNet, UNetConfig

    if name == "deepness":
        return {"fixed": deepness_style_model(os.path.join(work, "deepness_w64_rgb512.onnx"))}
    if name == "random64":
        checkpoint = os.path.join(work, "random_w64.pt")
        if not os.path.exists(checkpoint):
            torch.manual_seed(0)
            model = UNet(UNetConfig(in_channels=BANDS, num_classes=4, width=64)).eval()
            save_checkpoint(checkpoint, model, ModelCard(mean=[0.45] * BANDS, std=[0.2] * BANDS, tile_size=512,
                                                         tile_overlap=64, description="benchmark: random weights"))
    elif name == "calibrated64":
        checkpoint = calibrated_random_checkpoint(os.path.join(work, "calibrated_w64.pt"))
    else:
        checkpoint = DEMO if name == "demo" else trained
        if not os.path.exists(checkpoint):
            return None
    stem = os.path.join(work, os.path.splitext(os.path.basename(checkpoint))[0])
    files = {"pt": checkpoint, "fixed": stem + "_fixed512.onnx"}
    if not os.path.exists(files["fixed"]) or os.path.getmtime(files["fixed"]) < os.path.getmtime(checkpoint):
        loaded = load_checkpoint(checkpoint)
        sized = dataclasses.replace(loaded.card, tile_size=512, tile_overlap=64)
        export_onnx(loaded.build_model(), sized, files["fixed"])
    return files


#: Head calibration of ``calibrated64``: rounds of bias updates on the sample's top-left square.
CALIBRATION_ROUNDS = 12
CALIBRATION_SIDE = 512


def calibrated_random_checkpoint(path: str) -> str:
    """The issue's width-64 model (cached): random weights (seed 0, as ``random64``), head biases
    shifted until the sample's pixels split evenly over the four classes.

    With random weights the logits barely vary (standard deviation ≈ 0.006 on the sample) and
    one class wins almost every pixel, so agreement between precisions says little: a map of one
    class agrees by construction. Balanced classes make every pixel a near-tie, the hardest case
    for bf16 and int8 (issue 21: int8 agreed 98.3 % there against 99.3 % uncalibrated). Each round
    moves a class's bias by half the logits' spread times log(share / ¼).
    """
    if os.path.exists(path):
        return path
    import torch

    from ..core.contract import model_input
    from ..models.checkpoint import ModelCard, save_checkpoint
    from ..models.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=BANDS, num_classes=4, width=64)).eval()
    card = ModelCard(mean=[0.45] * BANDS, std=[0.2] * BANDS, tile_size=512, tile_overlap=64,
                     description="benchmark: random weights, head calibrated to four equally common classes")
    sample = RasterSource.open(SAMPLE)
    pixels = sample.read(sample.grid.full_window)[:BANDS, :CALIBRATION_SIDE, :CALIBRATION_SIDE]
    tile = torch.from_numpy(np.ascontiguousarray(model_input(pixels, None, card.mean, card.std)[None]))
    bias = model.decoder.head.bias
    with torch.no_grad():
        logits = model(tile)
        bias -= logits.mean(dim=(0, 2, 3))
        spread = logits.std(dim=(0, 2, 3)).mean()
        for _ in range(CALIBRATION_ROUNDS):
            classes = model(tile).argmax(dim=1)
            shares = torch.bincount(classes.ravel(), minlength=4).float() / classes.numel()
            bias -= 0.5 * spread * torch.log(shares.clamp_min(0.02) / 0.25)
    with atomic_path(path, ".pt") as partial:
        save_checkpoint(partial, model, card)
    return path


def deepness_style_model(path: str) -> str:
    """The width-64 U-Net on 3 bands (random weights) as a model from Deepness's zoo looks: a fixed
    512-px input, softmax output, Deepness's metadata and no Low2High description (cached)."""
    if os.path.exists(path):
        return path
    import onnx
    import torch

    from ..models.checkpoint import ModelCard
    from ..models.onnx_card import METADATA_KEY
    from ..models.onnx_export import export_onnx
    from ..models.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=3, num_classes=4, width=64)).eval()
    card = ModelCard(band_names=["red", "green", "blue"], mean=[0.45] * 3, std=[0.2] * 3, tile_size=512,
                     tile_overlap=64, class_names=["background", "trees", "fields", "roofs"])
    with atomic_path(path, ".onnx") as partial:  # a killed run leaves no half model to be taken for the cache
        export_onnx(model, card, partial, deepness=True)
        proto = onnx.load(partial)
        kept = [entry for entry in proto.metadata_props if entry.key != METADATA_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        onnx.save(proto, partial)
    return path


def run_child(args: argparse.Namespace) -> None:
    """One timed run in this process; prints its figures as JSON (clean peak RSS per run)."""
    kind, source, model, output = args.child
    if kind == "reference":
        from .reference_loop import reference_loop

        stats = reference_loop(source, model, output)
        figures: dict = {"seconds": stats.seconds, "megapixels": stats.megapixels, "computed": stats.computed_pixels}
    else:
        from ..core.progress import ConsoleProgress
        from ..engine.inference.segment import SegmentRequest, segment

        result = segment(SegmentRequest(source, output, model, precision=args.child_precision, device=kind),
                         ConsoleProgress())
        figures = {"seconds": result.stats.seconds, "megapixels": result.megapixels,
                   "computed": result.stats.computed_pixels, "precision": result.model.precision,
                   "model_seconds": result.stats.model_seconds}
    figures["peak_rss_mb"] = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_seconds"] = usage.ru_utime + usage.ru_stime  # the whole process: fair on a shared machine
    print(json.dumps(figures))


def child(kind: str, source: str, model: str, output: str, precision: str = "auto",
          cache: Optional[str] = None) -> dict:
    """One run in a fresh process (its peak RSS its own); ``cache``: the derived-model cache folder
    it uses instead of the user's (an empty one makes it a model's first run)."""
    command = [sys.executable, "-m", "low2high.benchmarks.segment_speed", "--child", kind, source, model,
               output, "--child-precision", precision]
    environment = dict(os.environ, **({CACHE_ENVIRONMENT: cache} if cache else {}))
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark run failed ({kind} {precision}): {completed.stderr[-3000:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = time.perf_counter() - started
    figures["log"] = [line for line in completed.stderr.splitlines() if line.startswith(("PRECISION", "Tile", "int8"))]
    return figures


def cuda_available() -> bool:
    """Whether PyTorch sees a CUDA GPU (the cuda row is skipped, and said unmeasured, when not)."""
    import torch

    return bool(torch.cuda.is_available())


def agreement(path: str, reference: str) -> float:
    """Share of pixels with the same class in two class rasters (read in row blocks)."""
    a, b = gdal.Open(path), gdal.Open(reference)
    same = total = 0
    for row in range(0, a.RasterYSize, 1024):
        rows = min(1024, a.RasterYSize - row)
        x = a.GetRasterBand(1).ReadAsArray(0, row, a.RasterXSize, rows)
        y = b.GetRasterBand(1).ReadAsArray(0, row, a.RasterXSize, rows)
        same += int((x == y).sum())
        total += x.size
    return same / max(total, 1)


def bench_model(name: str, files: dict, raster: str, warm_raster: str, rows: list, device: str, folder: str,
                repeats: int = 1) -> list:
    """Every row for one model, ``repeats`` times interleaved; returns dicts with the table's figures."""
    results = []
    rows = [row for row in rows if "pt" in files or row not in CHECKPOINT_ROWS]  # no .pt: the .onnx rows only
    for kind in [kind for kind in ("fixed", "pt") if kind in files]:
        warm = child(device, warm_raster, files[kind], os.path.join(folder, f"{name}-warm-{kind}.tif"), "auto")
        print(f"[{name}] one-off warm-up of {os.path.basename(files[kind])} on {warm['megapixels']:.0f} Mpx "
              f"(quantisation + precision trial, then cached): {warm['process_seconds']:.1f} s; "
              + " ".join(warm["log"][:2]), file=sys.stderr)
    if "bf16" in rows and "pt" in files:  # its agreement with fp32 is measured once, outside the timed run
        child(device, warm_raster, files["pt"], os.path.join(folder, f"{name}-warm-bf16.tif"), "bf16")
    if "cuda" in rows and not cuda_available():
        print(f"[{name}] cuda: no CUDA GPU on this machine, unmeasured", file=sys.stderr)
        rows = [row for row in rows if row != "cuda"]
    runs: dict[str, list] = {row: [] for row in rows}
    for repeat in range(repeats):  # rows take turns in a rotating order, so the machine's load weighs on all alike
        for row in rows[repeat % len(rows):] + rows[:repeat % len(rows)]:
            output = os.path.join(folder, f"{name}-{row}-{repeat}.tif")
            figures = run_row(row, files, raster, output, device, folder)
            figures.update(row=row, output=output)
            runs[row].append(figures)
            print(f"[{name}] {row}: {figures['megapixels'] / figures['seconds']:.2f} Mpx/s", file=sys.stderr)
    for row in rows:  # the run of median wall time stands for the row
        results.append(sorted(runs[row], key=lambda figures: figures["seconds"])[(len(runs[row]) - 1) // 2])
    fp32 = next((r["output"] for r in results if r["row"] == "fp32"), None)
    base = next((r for r in results if r["row"] == "reference"), None)
    for figures in results:
        figures["mpx_per_s"] = figures["megapixels"] / figures["seconds"]
        figures["ratio"] = figures["mpx_per_s"] / base["mpx_per_s"] if base else float("nan")
        figures["overhead"] = figures["computed"] / (figures["megapixels"] * 1e6)
        figures["agreement"] = agreement(figures["output"], fp32) if fp32 else float("nan")
    return results


def run_row(row: str, files: dict, raster: str, output: str, device: str, folder: str) -> dict:
    """One run of a table row in its own process."""
    if row == "reference":
        return dict(child("reference", raster, files["fixed"], output), precision="fp32")
    model = files["pt"] if row in CHECKPOINT_ROWS else files["fixed"]
    with tempfile.TemporaryDirectory(dir=folder) as empty:
        return child("cuda" if row == "cuda" else device, raster, model, output, row_precision(row),
                     empty if row == "first" else None)


ROW_LABELS = {"reference": "plain ORT 512/64 loop", "fp32": "segment PRECISION=fp32 on the .onnx",
              "bf16": "segment PRECISION=bf16 on the .pt", "int8": "segment PRECISION=int8 on the .onnx",
              "auto": "segment PRECISION=auto on the .pt", "auto-onnx": "segment PRECISION=auto on the .onnx",
              "first": "first run of the .pt (auto measures the precisions)", "cuda": "segment auto on the .pt, CUDA"}


def table(name: str, results: list) -> str:
    lines = [f"\n{name}", "| run | precision | seconds | Mpx/s | × plain loop | CPU s per Mpx | × plain loop (CPU) | "
             "peak RSS MB | × plain loop (RSS) | computed / raster px | agreement with fp32 | model busy |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = next((r for r in results if r["row"] == "reference"), None)
    for r in results:
        busy = f"{r['model_seconds'] / r['seconds']:.0%}" if "model_seconds" in r else "—"
        cpu = r["cpu_seconds"] / r["megapixels"]
        cpu_ratio = base["cpu_seconds"] / r["cpu_seconds"] if base else float("nan")
        rss_ratio = r["peak_rss_mb"] / base["peak_rss_mb"] if base else float("nan")
        lines.append(f"| {ROW_LABELS.get(r['row'], r['row'])} | {r['precision']} | {r['seconds']:.1f} | "
                     f"{r['mpx_per_s']:.2f} | {r['ratio']:.2f} | {cpu:.2f} | {cpu_ratio:.2f} | "
                     f"{r['peak_rss_mb']:.0f} | {rss_ratio:.2f} | {r['overhead']:.2f} | {r['agreement']:.2%} "
                     f"| {busy} |")
    return "\n".join(lines)


def main(argv: Optional[list] = None) -> int:
    args = parse_arguments(argv)
    if args.child:
        run_child(args)
        return 0
    os.makedirs(args.work, exist_ok=True)
    side = args.side
    raster = make_raster(os.path.join(args.work, f"raster_{side}.tif"), side)
    warm_raster = SAMPLE  # 1 Mpx: enough for the 8 calibration tiles the one-off costs need
    rows = [row for row in args.rows.split(",") if row]
    print(json.dumps({"machine": machine(), "raster": raster, "megapixels": side * side / 1e6}), file=sys.stderr)
    print(describe_machine())
    report = []
    with tempfile.TemporaryDirectory(dir=args.work) as folder:
        for name in args.models.split(","):
            files = model_files(name, args.work, args.trained)
            if files is None:
                print(f"\n{name}: skipped, no checkpoint at {args.trained} (train one: python -m low2high.train fit "
                      f"--width 64 ... then pass --trained runs/x/best.pt)")
                continue
            results = bench_model(name, files, raster, warm_raster, rows, args.device, folder, args.repeats)
            shown = os.path.basename(files.get("pt", files["fixed"]))
            print(table(f"{name} ({shown}), {side} × {side} px raster", results), flush=True)
            report.append({"model": name, "rows": [{k: v for k, v in r.items() if k not in ("log", "output")}
                                                   for r in results]})
            if args.flatness and name == args.models.split(",")[0]:
                print(flatness(files, args, folder), flush=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min); no CUDA GPU: CUDA unmeasured"
          if not cuda_available() else f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    atomic_write_json(os.path.join(args.work, "results.json"), report)
    return 0


def describe_machine() -> str:
    """The CPU, its cores and the flags that decide the precisions, and the load when the run starts."""
    from ..engine.inference.precision import cpu_flags

    found = cpu_flags()
    info = machine()
    flags = ", ".join(flag for flag in SPEED_FLAGS if flag in found) or "none of " + ", ".join(SPEED_FLAGS)
    return (f"{info['cpu']}, {info['cores']} cores, flags: {flags}; torch {info['torch']}; "
            f"load average at the start: {os.getloadavg()[0]:.1f} (1 min)")


def flatness(files: dict, args: argparse.Namespace, folder: str) -> str:
    """Peak RSS of the reference and of segment auto at 4 Mpx and 64 Mpx."""
    lines = ["\npeak RSS against raster size", "| run | 4 Mpx | 64 Mpx | 64 / 4 |", "|---|---|---|---|"]
    rasters = [make_raster(os.path.join(args.work, f"raster_{side}.tif"), side) for side in (2048, 8192)]
    for label, kind, model in (("plain ORT 512/64 loop", "reference", files["fixed"]),
                               ("segment auto on the .pt", args.device, files["pt"]),
                               ("segment auto on the .onnx", args.device, files["fixed"])):
        rss = [child(kind, raster, model, os.path.join(folder, f"flat-{kind}-{i}.tif"))["peak_rss_mb"]
               for i, raster in enumerate(rasters)]
        lines.append(f"| {label} | {rss[0]:.0f} | {rss[1]:.0f} | {rss[1] / rss[0]:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
