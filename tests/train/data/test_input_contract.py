"""One input contract: a chip with nodata reaches the network identically through training and segment."""
from __future__ import annotations

import queue
import threading

import numpy as np
from helpers import make_raster, scene
from train_helpers import BANDS, CHESAPEAKE, FACTOR, NLCD

from low2high.core.contract import normalise
from low2high.engine.geo.raster_io import RasterSource
from low2high.engine.inference import pipeline
from low2high.engine.inference.tiling import TileLayout
from low2high.models.card import ModelCard


class _CardOnly:
    """What the reader thread needs of a predictor: its card."""

    def __init__(self, card: ModelCard) -> None:
        self.info = card


def test_training_and_segment_feed_the_same_tensor_for_a_chip_with_nodata(tmp_path):
    from low2high.engine.labels.alignment import block_majority
    from low2high.train.data.builder import BuildDatasetConfig, build_dataset
    from low2high.train.data.datasets import ChipDataset

    pixels, classes = scene(96, 96, seed=3)
    pixels[:, :20, :30] = 0  # a nodata corner (every band at the nodata value)
    pixels[:, 50:52, 60:62] = 0
    image = make_raster(str(tmp_path / "naip.tif"), pixels, nodata=0)
    fine = make_raster(str(tmp_path / "lc.tif"), CHESAPEAKE[classes])
    coarse = make_raster(str(tmp_path / "nlcd.tif"), NLCD[block_majority(classes, FACTOR, 255)], pixel_size=FACTOR)
    folder = str(tmp_path / "ds")
    build_dataset(BuildDatasetConfig(image=image, fine_labels=fine, coarse_labels=coarse, output=folder, chip_size=96,
                                     band_names=BANDS, max_nodata_share=0.9, split_fractions=[1.0, 0.0, 0.0, 0.0]),
                  progress_bar=False)
    card = ModelCard(mean=[0.3, 0.4, 0.35, 0.5], std=[0.1, 0.2, 0.15, 0.25])
    training = ChipDataset(folder, ["train"], normalisation=(card.mean, card.std))[0]

    layout = TileLayout.plan(RasterSource.open(image).grid.full_window, 96, 0)
    channel: queue.Queue = queue.Queue()
    pipeline._read(image, layout, _CardOnly(card), 1, None, channel, threading.Event())
    batch = channel.get_nowait()
    inference = batch.inputs[0][:, :96, :96]

    assert training["valid"].sum() == 96 * 96 - 20 * 30 - 4
    np.testing.assert_array_equal(training["image"], inference)
    assert np.all(inference[:, :20, :30] == 0.0)
    np.testing.assert_array_equal(inference, normalise(pixels, pixels.max(axis=0) > 0, card.mean, card.std))
