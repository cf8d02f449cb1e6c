"""Measure ``low2high:finetune``: speed, rendered-scene quality, real-imagery quality.

``python -m low2high.train.benchmarks.finetune [--parts rendered,real] [--seeds 0,1,2] [--variants default,...]``

* **rendered**: real 1 m Chesapeake layout of Prince George's County rows 3840–4799, columns
  0–2047 (the demo model's held-out band), rendered by ``../shared/tools/render_scene.py`` with
  another seed and ``--flight-shift`` (an appearance the demo model never saw). Areas are drawn
  over the left half (0.9 km²); the model is fine-tuned with the real NLCD of that half only and
  the right half, never drawn, is scored against the real 1 m labels, beside the base model and
  the Oracle (NLCD itself). The wall time of each run is the speed figure (200 steps over
  0.9 km²; the target is ≤ 5 min on 2 CPU cores).
* **real**: the 8 real NAIP patches of ``../shared/data/wv_naip_dev``: areas are drawn over patches
  0–3 (a VRT mosaic; each patch's NLCD-covered 240 × 240 m) and the model is fine-tuned with their
  real NLCD only; the **undrawn** patches 4–7 are scored against their real 1 m labels on the recent
  flight (``*_naip.tif``, the one fine-tuned on) and on the earlier flight (``*_naip_old.tif``,
  never seen), beside the base model and the Oracle.
* **hand**: the case a user tried by hand: one patch (``wv_03``, its 64 NLCD blocks) at
  ``LEARNING_RATE`` 1e-3, scored on that patch (the drawn pixels themselves: what the user sees).

Variants are named sets of fine-tuning settings (:data:`VARIANTS`: encoder freezing, learning rate,
loss, normalisation, BatchNorm) for finding which lever matters. Results land in
``<work>/results.json`` and ``results.md``; prediction uses the model card's own input contract.
Re-run with another ``--model`` (e.g. a new demo model) to compare.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any, Optional

import numpy as np
from osgeo import gdal

from ...core.files import atomic_write_json, atomic_write_text
from ...core.progress import Countdown, SilentProgress
from ...core.publication import Publication
from ...core.resources import PACKAGE_ROOT
from ...engine.evaluation.metrics import ConfusionMatrix
from ...engine.labels.taxonomy import load_taxonomy
from ..finetune.config import FinetuneConfig
from ..finetune.model import DEMO_MODEL

SHARED = os.environ.get("LOW2HIGH_SHARED", os.path.join(os.path.dirname(PACKAGE_ROOT), "shared"))
RENDER_WINDOW = (0, 3840, 2048, 960)  # col, row, width, height of pg_county_north (the demo's test band)
DRAWN_COLUMNS = 1024
"""The areas are drawn over columns 0–1023 of the window; columns 1024–2047 are scored."""
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "frozen": {"freeze_encoder": True},
    "unfrozen": {"freeze_encoder": False},
    "lr1e-3": {"lr": 1e-3},
    "frozen-lr1e-3": {"freeze_encoder": True, "lr": 1e-3},
    "adv": {"loss": "agg+adv"},
    "low": {"loss": "low"},
    "model-norm": {"normalisation": "model"},
    "bn-frozen": {"freeze_encoder": False, "freeze_batchnorm": True},
    "no-validation": {"validation_share": 0.0},
    "frozen-adv": {"freeze_encoder": True, "loss": "agg+adv"},
    "dist": {"loss": "agg-dist"},
    "dist-model-norm": {"loss": "agg-dist", "normalisation": "model"},
    "dist-adv": {"loss": "agg-dist+adv"},
    # The base model fed with the areas' own input statistics, weights unchanged (1 step at a negligible rate):
    "no-teacher": {"teacher": 0.0},
    "teacher-5": {"teacher": 5.0},
    "low-dist": {"loss": "low-dist"},
    "low-dist-t5": {"loss": "low-dist", "teacher": 5.0},
    "frozen-lr1e-5": {"freeze_encoder": True, "lr": 1e-5},
    "image-stats": {"normalisation": "image"},
    "image-norm-only": {"normalisation": "image", "freeze_encoder": True, "steps": 1, "lr": 1e-12,
                        "validation_share": 0.0},
}


# ----- scoring ----------------------------------------------------------------------------------

def predict(model_path: str, pixels: np.ndarray, valid: Optional[np.ndarray] = None) -> np.ndarray:
    """Classes (H, W) of raw (bands, H, W) pixels, fed by segment's INPUT_STATISTICS auto rule for the
    model's card, refined by the image's colours and sieved at its minimum mapping unit when the card
    says so, as segment maps them (the benchmark's scenes are 1 m; each is one raster)."""
    import torch

    from ...engine.labels.colour_refinement import fit_and_refine, refinement_applies
    from ...engine.labels.mapping_unit import sieve_classes, unit_in_pixels
    from ...models.checkpoint import load_checkpoint
    from ..scoring.predict import predict_logits
    from .real import raster_card

    loaded = load_checkpoint(model_path)
    network = loaded.build_model()
    fed = raster_card(loaded.card, [pixels], "auto", None if valid is None else [valid])
    features = fed.normalise(pixels, valid)
    probabilities = torch.softmax(predict_logits(network, torch.from_numpy(features)[None], amp=False), dim=1).numpy()
    if refinement_applies("auto", loaded.card.colour_refinement, fed.standardisation):
        inside = pixels.max(axis=0) > 0 if valid is None else valid
        probabilities = fit_and_refine(probabilities, features[None], [inside])
    classes = probabilities[0].argmax(axis=0).astype(np.uint8)
    return sieve_classes(classes, unit_in_pixels(loaded.card.min_mapping_unit, pixel_area_m2=1.0))


def figures(matrix: ConfusionMatrix) -> dict[str, float]:
    metrics = matrix.compute()
    return {"accuracy": 100 * metrics.accuracy, "f1": 100 * metrics.macro_f1, "miou": 100 * metrics.macro_iou}


def score(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    matrix = ConfusionMatrix()
    for prediction, reference in pairs:
        matrix.update(prediction, reference)
    return figures(matrix)


def read(path: str, window: Optional[tuple[int, int, int, int]] = None) -> np.ndarray:
    dataset = gdal.Open(path)
    return dataset.ReadAsArray(*window) if window else dataset.ReadAsArray()


class _Log(SilentProgress):
    """The run's log lines on stdout (a benchmark runs for minutes; this shows where it is)."""

    def info(self, message: str) -> None:
        print(f"    {message}", flush=True)

    def warn(self, message: str) -> None:
        print(f"    warning: {message}", flush=True)


def finetune_once(settings: dict[str, Any]) -> tuple[str, float, dict[str, Any]]:
    """Run the engine; returns the model path, wall seconds and the result's figures."""
    from ..finetune.task import finetune

    started = time.perf_counter()
    result = finetune(FinetuneConfig(**settings), _Log())
    seconds = time.perf_counter() - started
    return result.output, seconds, {"seconds": seconds, "s_per_step": result.seconds_per_step, "steps": result.steps,
                                    "best_step": result.best_step, "freeze_encoder": result.freeze_encoder,
                                    "agreement_before": result.before, "agreement_after": result.after}


def square(xmin: float, ymax: float, width: float, height: float) -> str:
    return (f"POLYGON(({xmin} {ymax},{xmin + width} {ymax},{xmin + width} {ymax - height},{xmin} {ymax - height},"
            f"{xmin} {ymax}))")


# ----- rendered scene ---------------------------------------------------------------------------

def rendered_inputs(work: str, render_seed: int, shift: float) -> dict[str, Any]:
    """The window's labels, NLCD and a rendering of a new flight (cached in ``work``)."""
    col, row, width, height = RENDER_WINDOW
    paths = {name: os.path.join(work, f"scene_{name}.tif") for name in ("lc", "nlcd")}
    sources = {"lc": "pg_county_north_lc.tif", "nlcd": "pg_county_north_nlcd.tif"}
    for name, path in paths.items():
        if not os.path.exists(path):
            gdal.Translate(path, os.path.join(SHARED, "data", "chesapeake_pg_county", sources[name]),
                           options=gdal.TranslateOptions(srcWin=[col, row, width, height],
                                                         creationOptions=["COMPRESS=DEFLATE"]))
    image = os.path.join(work, f"scene_seed{render_seed}_shift{shift}.tif")
    if not os.path.exists(image):
        subprocess.run([sys.executable, os.path.join(SHARED, "tools", "render_scene.py"), paths["lc"], image,
                        "--seed", str(render_seed), "--flight-shift", str(shift)], check=True, capture_output=True)
    grid = gdal.Open(image).GetGeoTransform()
    x0, y0 = grid[0], grid[3]
    # Four 480 × 480 m squares over the left half (0.92 km²), 16 m in from the window's edge.
    areas = [square(x0 + 16 + 496 * i, y0 - 16 - 472 * j, 480, 456) for i in range(2) for j in range(2)]
    return {"image": image, "labels": paths["nlcd"], "lc": paths["lc"], "areas": areas}


def rendered_part(work: str, model: str, variants: list[str], seeds: list[int], steps: int, render_seed: int,
                  shift: float, countdown: Countdown) -> dict[str, Any]:
    inputs = rendered_inputs(work, render_seed, shift)
    scored = (slice(None), slice(DRAWN_COLUMNS, None))
    pixels = read(inputs["image"])[(slice(None),) + scored]
    reference = load_taxonomy("chesapeake").lookup_table()[read(inputs["lc"])[scored]]
    oracle = load_taxonomy("nlcd").lookup_table()[read(inputs["labels"])[scored]]
    table: dict[str, Any] = {"oracle": score([(oracle, reference)]),
                             "base": score([(predict(model, pixels), reference)])}
    print(f"rendered  oracle {table['oracle']}  base {table['base']}", flush=True)
    for variant in variants:
        runs = []
        for seed in seeds:
            settings = dict(image=inputs["image"], labels=inputs["labels"], areas=inputs["areas"], model=model,
                            output=os.path.join(work, f"rendered_{variant}_seed{seed}.pt"), steps=steps, seed=seed,
                            factor=30, device="cpu", onnx=False)
            settings.update(VARIANTS[variant])
            path, seconds, facts = finetune_once(settings)
            facts.update(score([(predict(path, pixels), reference)]))
            runs.append(facts)
            print(f"rendered  {variant} seed {seed}: {facts}", flush=True)
            countdown.advance()
        table[variant] = runs
    return table


# ----- real NAIP ------------------------------------------------------------------------------

PATCHES = [f"wv_{number:02d}" for number in range(8)]
DRAWN, UNDRAWN = PATCHES[:4], PATCHES[4:]
HAND = ["wv_03"]
WV = os.path.join(SHARED, "data", "wv_naip_dev")
LABELLED = 240  # the NLCD covers each patch's top-left 240 × 240 px


def real_inputs(work: str, patches: list[str]) -> dict[str, Any]:
    """VRT mosaics of the drawn recent-flight patches and of their NLCD, and one area per patch."""
    mosaics = {}
    tag = "-".join(patch[-2:] for patch in patches)
    for name, suffix in (("image", "_naip.tif"), ("labels", "_nlcd.tif")):
        path = os.path.join(work, f"wv_{name}_{tag}.vrt")
        gdal.BuildVRT(path, [os.path.join(WV, patch + suffix) for patch in patches])
        mosaics[name] = path
    areas = []
    for patch in patches:
        x0, _, _, y0, _, _ = gdal.Open(os.path.join(WV, patch + "_nlcd.tif")).GetGeoTransform()
        areas.append(square(x0, y0, LABELLED, LABELLED))
    return {**mosaics, "areas": areas}


def real_scores(model: str, flight: str, patches: list[str]) -> dict[str, float]:
    lc = load_taxonomy("chesapeake").lookup_table()
    pairs = []
    for patch in patches:
        source = gdal.Open(os.path.join(WV, f"{patch}{flight}"))
        pixels = source.ReadAsArray()
        valid = source.GetRasterBand(1).GetMaskBand().ReadAsArray() > 0
        prediction = predict(model, pixels, valid)[:LABELLED, :LABELLED]
        pairs.append((prediction, lc[read(os.path.join(WV, patch + "_lc.tif"))][:LABELLED, :LABELLED]))
    return score(pairs)


def oracle_scores(patches: list[str]) -> dict[str, float]:
    lc, nlcd = load_taxonomy("chesapeake").lookup_table(), load_taxonomy("nlcd").lookup_table()
    pairs = []
    for patch in patches:
        cells = nlcd[read(os.path.join(WV, patch + "_nlcd.tif"))]
        pairs.append((np.kron(cells, np.ones((30, 30), np.uint8)),
                      lc[read(os.path.join(WV, patch + "_lc.tif"))][:LABELLED, :LABELLED]))
    return score(pairs)


def real_part(work: str, model: str, variants: list[str], seeds: list[int], steps: int, countdown: Countdown,
              hand: bool = False) -> dict[str, Any]:
    """Fine-tune on the drawn patches; score the undrawn ones (``hand``: one patch at lr 1e-3, scored on itself)."""
    drawn, scored = (HAND, HAND) if hand else (DRAWN, UNDRAWN)
    flights = {"recent": "_naip.tif"} if hand else {"recent": "_naip.tif", "old": "_naip_old.tif"}
    part = "hand" if hand else "real"
    inputs = real_inputs(work, drawn)
    base = {name: real_scores(model, flight, scored) for name, flight in flights.items()}
    table: dict[str, Any] = {"oracle": oracle_scores(scored), "base": base}
    print(f"{part}  oracle {table['oracle']}  base {table['base']}", flush=True)
    for variant in variants:
        runs = []
        for seed in seeds:
            settings = dict(image=inputs["image"], labels=inputs["labels"], areas=inputs["areas"], model=model,
                            output=os.path.join(work, f"{part}_{variant}_seed{seed}.pt"), steps=steps, seed=seed,
                            device="cpu", onnx=False)
            settings.update(VARIANTS[variant])
            if hand:
                settings["lr"] = 1e-3
            path, seconds, facts = finetune_once(settings)
            facts.update({name: real_scores(path, flight, scored) for name, flight in flights.items()})
            runs.append(facts)
            print(f"{part}  {variant} seed {seed}: {facts}", flush=True)
            countdown.advance()
        table[variant] = runs
    return table


# ----- report -----------------------------------------------------------------------------------

def mean_sd(runs: list[dict[str, Any]], *keys: str) -> str:
    values = []
    for run in runs:
        value: Any = run
        for key in keys:
            value = value[key]
        values.append(float(value))
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"


def markdown(results: dict[str, Any]) -> str:
    lines = []
    if "rendered" in results:
        table = results["rendered"]
        lines += ["### Rendered scene, undrawn half (mIoU / F1 / Acc vs real 1 m labels)", "",
                  "| row | mIoU | F1 | Acc | seconds (200 steps) | kept step |", "|---|---|---|---|---|---|"]
        for name in ("oracle", "base"):
            row = table[name]
            lines.append(f"| {name} | {row['miou']:.1f} | {row['f1']:.1f} | {row['accuracy']:.1f} | | |")
        for name, runs in table.items():
            if isinstance(runs, list):
                lines.append(f"| finetune {name} (n={len(runs)}) | {mean_sd(runs, 'miou')} | {mean_sd(runs, 'f1')} "
                             f"| {mean_sd(runs, 'accuracy')} | {mean_sd(runs, 'seconds')} | "
                             f"{', '.join(str(run['best_step']) for run in runs)} |")
        lines.append("")
    if "real" in results:
        table = results["real"]
        lines += ["### Real NAIP, undrawn WV patches 4–7 (drawn: 0–3; mIoU / F1 / Acc vs real 1 m labels)", "",
                  "| row | recent flight mIoU | F1 | Acc | earlier flight mIoU | F1 | Acc | kept step |",
                  "|---|---|---|---|---|---|---|---|"]
        oracle = table["oracle"]
        lines.append(f"| oracle | {oracle['miou']:.1f} | {oracle['f1']:.1f} | {oracle['accuracy']:.1f} | "
                     f"{oracle['miou']:.1f} | {oracle['f1']:.1f} | {oracle['accuracy']:.1f} | |")
        base = table["base"]
        lines.append("| base | " + " | ".join(f"{base[flight][key]:.1f}" for flight in ("recent", "old")
                                               for key in ("miou", "f1", "accuracy")) + " | |")
        for name, runs in table.items():
            if isinstance(runs, list):
                lines.append(f"| finetune {name} (n={len(runs)}) | " + " | ".join(
                    mean_sd(runs, flight, key) for flight in ("recent", "old") for key in ("miou", "f1", "accuracy"))
                    + f" | {', '.join(str(run['best_step']) for run in runs)} |")
        lines.append("")
    if "hand" in results:
        table = results["hand"]
        lines += ["### Real NAIP by hand: wv_03 drawn (64 blocks), LEARNING_RATE 1e-3, scored on wv_03", "",
                  "| row | mIoU | F1 | Acc | worst seed mIoU | kept step |", "|---|---|---|---|---|---|",
                  f"| oracle | {table['oracle']['miou']:.1f} | {table['oracle']['f1']:.1f} | "
                  f"{table['oracle']['accuracy']:.1f} | | |",
                  "| base | " + " | ".join(f"{table['base']['recent'][key]:.1f}" for key in ("miou", "f1", "accuracy"))
                  + " | | |"]
        for name, runs in table.items():
            if isinstance(runs, list):
                worst = min(run["recent"]["miou"] for run in runs)
                lines.append(f"| finetune {name} (n={len(runs)}) | " + " | ".join(
                    mean_sd(runs, "recent", key) for key in ("miou", "f1", "accuracy"))
                    + f" | {worst:.1f} | {', '.join(str(run['best_step']) for run in runs)} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m low2high.train.benchmarks.finetune",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="rendered,real,hand", help="rendered, real, hand (comma-separated)")
    parser.add_argument("--variants", default="default", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0", help="fine-tuning seeds, comma-separated")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--model", default=DEMO_MODEL, help="base model (default: the bundled demo model)")
    parser.add_argument("--render-seed", type=int, default=11)
    parser.add_argument("--flight-shift", type=float, default=0.1)
    parser.add_argument("--work", default=os.path.join(PACKAGE_ROOT, ".build", "finetune-benchmark"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores; 1 is faster on a "
                                                                "machine other jobs keep busy)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    gdal.UseExceptions()
    variants = [name for name in args.variants.split(",") if name]
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    seeds = [int(seed) for seed in args.seeds.split(",") if seed]
    results: dict[str, Any] = {"model": args.model, "steps": args.steps, "seeds": seeds}
    parts = [part for part in ("rendered", "real", "hand") if part in args.parts]
    # Each run takes minutes: the time left after every one ("3/12 fine-tuning runs, about 25 min left").
    countdown = Countdown(_Log(), len(parts) * len(variants) * len(seeds), "fine-tuning runs", every_s=0)
    if "rendered" in parts:
        results["rendered"] = rendered_part(args.work, args.model, variants, seeds, args.steps, args.render_seed,
                                            args.flight_shift, countdown)
    if "real" in parts:
        results["real"] = real_part(args.work, args.model, variants, seeds, args.steps, countdown)
    tag = "-".join(sorted(args.parts.split(","))) + "_" + "-".join(variants)
    if "hand" in parts:
        results["hand"] = real_part(args.work, args.model, variants, seeds, args.steps, countdown, hand=True)
    report = markdown(results)
    with Publication() as publication:  # the figures and their table together
        atomic_write_json(publication.stage(os.path.join(args.work, f"results_{tag}.json")), results)
        atomic_write_text(publication.stage(os.path.join(args.work, f"results_{tag}.md")), report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
