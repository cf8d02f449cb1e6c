"""A training dataset with several rendered appearances: ``python -m low2high.train demo-dataset``.

A model that has seen one rendered flight learns that flight's colours and collapses on real NAIP
(the first demo model: 15.6 mIoU on ../shared/data/wv_naip_dev, NLCD itself 35.4). This builds the
benchmark's dataset (same area, regions, chips and settings as ``benchmark``) from an image whose
training chips come from several renderings of the real 1 m layout: the benchmark's own image
(``render_seed``, no flight shift) and more seeds with flight shifts (``--flight-shift`` of the
renderer: per-band gain and offset, sub-type colours, sun azimuth). Chip (row r, column c) of the
training band takes appearance ``(r + c) mod K``, so every appearance covers the whole band and
neighbouring chips differ. Only the training band (rows 0–2879) is re-rendered; the exemplar
and test regions keep the benchmark's image (their pixels are never trained on).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ...core.progress import Progress
from ...core.resources import PACKAGE_ROOT
from ..config import field
from .paper import BenchmarkConfig, prepare_dataset
from .real import parse_rendered
from .sources import SHARED, label_rows, render

TRAIN_ROWS = 2880
CHIP = 480


@dataclass
class AppearancesConfig:
    """Settings of ``demo-dataset``."""

    appearances: list[str] = field(["11:0.08", "12:0.1"], "extra renderings of the training band, "
                                                                    "SEED:FLIGHT_SHIFT each, beside the benchmark's "
                                                                    "own image")
    work: str = field(os.path.join(PACKAGE_ROOT, ".build", "demo-dataset"), "folder for the renderings, the mosaic "
                                                                           "image and the dataset (reused)")
    shared: str = field(SHARED, "the shared folder holding data/chesapeake_pg_county and tools/render_scene.py")
    render_seed: int = field(7, "seed of the benchmark's own image (rendered into the benchmark's work folder)")
    seed: int = field(0, "seed of the train / validation split")


def render_band(shared: str, work: str, seed: int, shift: float, progress: Progress) -> str:
    """The training band of the labels rendered with ``seed`` / ``shift`` (once; reused after)."""
    labels = os.path.join(work, "train_band_lc.tif")
    label_rows(shared, labels, 0, TRAIN_ROWS)
    image = os.path.join(work, f"train_band_seed{seed}_shift{shift:g}.tif")
    if not os.path.exists(image):
        progress.info(f"Rendering the training band, seed {seed}, flight shift {shift:g} (about a minute)...")
        render(shared, labels, image, seed, shift)
    return image


def mosaic(base: str, bands: list[str], output: str) -> None:
    """Write ``base`` with training chip (r, c) replaced by rendering ``(r + c) mod K`` (0 = base)."""
    from osgeo import gdal

    source = gdal.Open(base)
    pixels = source.ReadAsArray()  # (bands, H, W) uint8
    renders = [gdal.Open(path).ReadAsArray() for path in bands]
    count = len(renders) + 1
    for row in range(TRAIN_ROWS // CHIP):
        for col in range(pixels.shape[2] // CHIP):
            choice = (row + col) % count
            if choice:
                window = (slice(None), slice(row * CHIP, (row + 1) * CHIP), slice(col * CHIP, (col + 1) * CHIP))
                pixels[window] = renders[choice - 1][window]
    partial = output + ".partial.tif"
    target = gdal.GetDriverByName("GTiff").CreateCopy(partial, source)
    for index in range(pixels.shape[0]):
        target.GetRasterBand(index + 1).WriteArray(pixels[index])
    target = None
    os.replace(partial, output)


def build_appearances(config: AppearancesConfig, progress: Progress) -> dict[str, Any]:
    """Render, mosaic and build; returns the dataset folder and the appearances used."""
    os.makedirs(config.work, exist_ok=True)
    bench = BenchmarkConfig(quick=True, work=os.path.join(PACKAGE_ROOT, ".build", "paper-benchmark"),
                            shared=config.shared, render_seed=config.render_seed, seed=config.seed, progress=False)
    prepare_dataset(bench, progress)  # the benchmark's own image (and dataset), rendered once
    base = os.path.join(bench.work, f"image_seed{config.render_seed}.tif")
    parsed = [parse_rendered(text) for text in config.appearances]
    bands = [render_band(config.shared, config.work, seed, shift, progress) for seed, shift in parsed]
    tag = "_".join(f"{seed}-{shift:g}" for seed, shift in parsed) or "none"
    image = os.path.join(config.work, f"mosaic_{config.render_seed}_{tag}.tif")
    if not os.path.exists(image):
        mosaic(base, bands, image)
    dataset = prepare_dataset(BenchmarkConfig(quick=True, work=config.work, shared=config.shared, seed=config.seed,
                                              progress=False), progress, image=image, folder=f"dataset_{tag}")
    return {"dataset": dataset, "image": image, "appearances": [f"seed {config.render_seed}, shift 0"]
            + [f"seed {seed}, shift {shift:g}" for seed, shift in parsed]}

