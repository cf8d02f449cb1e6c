"""Session fixtures of the training tests: a tiny scene and a chip dataset built by build-dataset."""
from __future__ import annotations

import pytest
from helpers import make_raster, scene  # noqa: E402
from train_helpers import BANDS, CHESAPEAKE, CHIP, FACTOR, NLCD  # noqa: E402

from low2high.engine.labels.alignment import block_majority  # noqa: E402


@pytest.fixture(scope="session")
def scene_rasters(tmp_path_factory):
    """A 480 × 480 1 m scene, its Chesapeake-coded fine labels and 8 m NLCD-coded coarse labels."""
    folder = tmp_path_factory.mktemp("train_scene")
    image, classes = scene(480, 480, seed=5)
    coarse = NLCD[block_majority(classes, FACTOR, 255)]
    return {"image": make_raster(str(folder / "naip.tif"), image),
            "fine_labels": make_raster(str(folder / "lc.tif"), CHESAPEAKE[classes]),
            "coarse_labels": make_raster(str(folder / "nlcd.tif"), coarse, pixel_size=float(FACTOR)),
            "classes": classes, "pixels": image}


@pytest.fixture(scope="session")
def chip_dataset(scene_rasters, tmp_path_factory):
    """A dataset of 96-px chips (12 × 12 cells of 8 px) built by build-dataset: train / val / held-out / test."""
    from low2high.train.data.builder import BuildDatasetConfig, build_dataset

    folder = tmp_path_factory.mktemp("train_ds") / "ds"
    settings = {key: scene_rasters[key] for key in ("image", "fine_labels", "coarse_labels")}
    build_dataset(BuildDatasetConfig(output=str(folder), chip_size=CHIP, band_names=BANDS,
                                     split_fractions=[0.6, 0.15, 0.15, 0.1], **settings), progress_bar=False)
    return str(folder)
