"""Helpers of the training tests: fast fit settings, datasets written chip by chip in the documented format."""
from __future__ import annotations

import json
import os

import numpy as np
from helpers import scene

from low2high.engine.labels.alignment import block_majority
from low2high.train.data.chips import DATASET_FILE, FORMAT_NAME, INDEX_FILE, chip_path, write_chip, write_index

CHESAPEAKE = np.array([1, 2, 3, 5], np.uint8)  # merged class → a Chesapeake code of it
NLCD = np.array([11, 41, 82, 22], np.uint8)  # merged class → an NLCD code of it
FACTOR = 8
CHIP = 96
BANDS = ["red", "green", "blue", "nir"]


def fit_settings(dataset: str, output: str, **changes) -> dict:
    """Small, fast fit settings (width 8, 64-px crops, 64-px discriminator maps)."""
    settings = dict(dataset=dataset, output=output, epochs=1, batch_size=4, width=8, crop=64, exemplar_crop=64,
                    progress=False, examples=2, plot_every=0, lr=1e-3)
    settings.update(changes)
    return settings


def write_dataset(folder: str, chips: list[dict], factor: int = FACTOR, mean=(0.4,) * 4, std=(0.2,) * 4) -> str:
    """Write a dataset chip by chip in the documented format (chip_format), for cases build-dataset never makes.

    Each chip is a dict with image (B, S, S), fine (S, S), coarse (S/n, S/n) uint8 and split.
    """
    os.makedirs(os.path.join(folder, "chips"), exist_ok=True)
    rows, splits = [], {}
    for number, chip in enumerate(chips):
        name = f"r00000_c{number:05d}"
        arrays = {key: np.asarray(chip[key], np.uint8) for key in ("image", "fine", "coarse")}
        write_chip(chip_path(folder, name), arrays)
        size = arrays["fine"].shape[0]
        row = {"chip": name, "split": chip["split"], "file": f"chips/{name}.npz", "col": number * size, "row": 0,
               "size": size, "xmin": 0.0, "ymin": 0.0, "xmax": 1.0, "ymax": 1.0}
        for source in ("fine", "coarse"):
            counts = np.bincount(arrays[source].ravel(), minlength=256)
            for code, label in enumerate(("water", "forest", "field", "impervious")):
                row[f"{source}_{label}"] = int(counts[code])
            row[f"{source}_nodata"] = int(counts[255])
        rows.append(row)
        splits[chip["split"]] = splits.get(chip["split"], 0) + 1
    write_index(os.path.join(folder, INDEX_FILE), rows)
    size = np.asarray(chips[0]["fine"]).shape[0]
    description = {"format": FORMAT_NAME, "version": 1, "complete": True, "settings": {},
                   "classes": ["water", "forest", "field", "impervious"], "nodata": 255, "chip_size": size,
                   "factor": factor, "coarse_chip_size": size // factor,
                   "image": {"gsd": 1.0, "band_names": BANDS[: np.asarray(chips[0]["image"]).shape[0]]},
                   "splits": splits, "normalisation": {"units": "pixel / 255", "mean": list(mean), "std": list(std)}}
    with open(os.path.join(folder, DATASET_FILE), "w", encoding="utf-8") as handle:
        json.dump(description, handle)
    return folder


def synthetic_chip(split: str, seed: int, size: int = 64, factor: int = FACTOR, coarse_nodata: bool = False) -> dict:
    """A chip of the blocky scene, coarse labels by block majority (or all nodata)."""
    image, classes = scene(size, size, seed=seed)
    coarse = block_majority(classes, factor, 255)
    if coarse_nodata:
        coarse[:] = 255
    return {"image": image, "fine": classes, "coarse": coarse, "split": split}
