"""Chips of the drawn areas: which blocks teach, validation groups, augmentation keeping blocks and pixels aligned."""
from __future__ import annotations

import numpy as np
from finetune_helpers import square
from helpers import ORIGIN

from low2high.core.progress import SilentProgress
from low2high.engine.geo.grid import Grid
from low2high.engine.labels.alignment import block_majority
from low2high.engine.labels.taxonomy import load_taxonomy
from low2high.models.card import ModelCard
from low2high.train.finetune.areas import read_areas
from low2high.train.finetune.data import TRAIN, VALIDATION, AreaChips, BatchSampler, read_area_chips, split_validation


def chips_of(tune_scene, areas, chip_blocks=8):
    grid_source = read_areas(areas, "", _grid(tune_scene["image"]))
    return read_area_chips(tune_scene["image"], tune_scene["labels"], load_taxonomy("nlcd"), grid_source, None,
                           chip_blocks, 4, SilentProgress())


def _grid(path):
    from low2high.engine.geo.raster_io import RasterSource

    return RasterSource.open(path).grid


def test_only_blocks_wholly_inside_a_polygon_teach(tune_scene):
    # 20 m squares starting 4 m into an 8 m block: each holds exactly 2 × 2 whole blocks.
    areas = [square(ORIGIN[0] + 4 + 40 * i, ORIGIN[1] - 4, 20) for i in range(3)]
    chips = chips_of(tune_scene, areas)
    assert chips.usable_blocks == 12
    expected = block_majority(tune_scene["classes"], 8, 255)
    for coarse, window in zip(chips.coarse, chips.windows):
        rows, cols = np.nonzero(coarse != 255)
        assert (coarse[rows, cols] == expected[window.row // 8 + rows, window.col // 8 + cols]).all()


def test_small_polygons_a_few_blocks_each_are_enough(tune_scene, tmp_path):
    from low2high.train.finetune.config import FinetuneConfig
    from low2high.train.finetune.task import finetune

    areas = [square(ORIGIN[0] + 4 + 40 * i, ORIGIN[1] - 4, 20) for i in range(3)]
    result = finetune(FinetuneConfig(image=tune_scene["image"], labels=tune_scene["labels"], model=tune_scene["model"],
                                     areas=areas, output=str(tmp_path / "small.pt"), steps=2, batch_size=2,
                                     validation_share=0, onnx=False, device="cpu"))
    assert result.blocks["train"] == 12 and result.freeze_encoder


def test_validation_takes_about_the_share_in_groups_and_is_seeded(tune_scene):
    chips = chips_of(tune_scene, tune_scene["areas"])
    split_validation(chips, 0.25, seed=3, progress=SilentProgress())
    share = chips.blocks(VALIDATION) / chips.usable_blocks
    assert 0.2 <= share <= 0.35 and chips.blocks(TRAIN) + chips.blocks(VALIDATION) == chips.usable_blocks
    first = chips.role.copy()
    split_validation(chips, 0.25, seed=3, progress=SilentProgress())
    assert (chips.role == first).all()


def test_augmented_batches_keep_each_block_label_over_its_own_pixels():
    """Pixels carry their class as value: after flips and turns, every block's majority is still its label."""
    rng = np.random.default_rng(0)
    classes = np.kron(rng.integers(0, 4, (3, 8, 8)), np.ones((4, 4), np.int64)).astype(np.uint8)  # (3, 32, 32)
    classes[:, :, :3] = rng.integers(0, 4, (3, 32, 3))  # asymmetric detail
    coarse = np.stack([block_majority(chip, 4, 255) for chip in classes])
    chips = AreaChips(pixels=np.repeat(classes[:, None] * 60, 4, axis=1), valid=np.ones(classes.shape, bool),
                      coarse=coarse, role=np.full(coarse.shape, TRAIN, np.uint8), windows=[None] * 3, factor=4,
                      grid=Grid((0, 1, 0, 0, 0, -1), 32, 32))
    card = ModelCard(mean=[0.0] * 4, std=[1 / 255] * 4)  # the input is the raw value
    sampler = BatchSampler(chips, card, batch_size=6, augment=True, seed=1)
    for step in range(4):
        batch = sampler.batch(step)
        values = (batch["image"][:, 0].numpy() / 60).round().astype(np.uint8)
        for image, labels in zip(values, batch["coarse"].numpy()):
            assert (block_majority(image, 4, 255) == labels).all()
