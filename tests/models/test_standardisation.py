"""Per-tile standardisation: one contract for training chips and segment tiles, recorded on the card."""
import numpy as np
import pytest
from helpers import make_raster, read, scene

from low2high.core.contract import (
    MIN_TILE_STD,
    byte_histograms,
    histogram_statistics,
    model_input,
    normalise,
    tile_statistics,
)
from low2high.models.card import CheckpointError, ModelCard


def test_tile_standardisation_cancels_a_flights_gain_and_offset():
    image, _ = scene(64, 64, seed=3)
    valid = np.ones((64, 64), bool)
    shifted = np.clip(image.astype(np.float32) * 0.7 + 30, 0, 255)  # another flight's radiometry
    a = model_input(image, valid, [0.5] * 4, [0.2] * 4, "tile")
    b = model_input(shifted, valid, [0.5] * 4, [0.2] * 4, "tile")
    assert np.abs(a - b).max() < 0.05
    assert a.mean(axis=(1, 2)) == pytest.approx([0] * 4, abs=1e-4)
    assert a.std(axis=(1, 2)) == pytest.approx([1] * 4, abs=1e-3)


def test_dataset_standardisation_is_normalise_and_statistics_skip_nodata():
    image, _ = scene(32, 32, seed=4)
    assert np.array_equal(model_input(image, None, [0.4] * 4, [0.2] * 4), normalise(image, None, [0.4] * 4, [0.2] * 4))
    valid = np.zeros((32, 32), bool)
    valid[:, :16] = True
    image[:, :, 16:] = 0
    mean, std = tile_statistics(image, valid)
    assert mean == pytest.approx(image[:, :, :16].reshape(4, -1).mean(axis=1) / 255)
    _, flat_std = tile_statistics(np.full((4, 8, 8), 9, np.uint8), None)
    assert flat_std == pytest.approx([MIN_TILE_STD] * 4)
    with pytest.raises(ValueError, match="standardisation"):
        model_input(image, valid, [0.4] * 4, [0.2] * 4, "image")


def test_the_card_records_it_and_old_cards_mean_dataset():
    assert ModelCard().standardisation == "dataset"
    card = ModelCard.from_dict({**ModelCard().to_dict(), "standardisation": "tile"})
    image, _ = scene(32, 32, seed=6)
    assert np.array_equal(card.normalise(image), model_input(image, None, card.mean, card.std, "tile"))
    with pytest.raises(CheckpointError, match="standardisation"):
        ModelCard(standardisation="image")


def test_segment_standardises_each_tile_when_the_card_says_so(tmp_path):
    import torch

    from low2high.engine.inference.segment import SegmentRequest, segment
    from low2high.models.checkpoint import load_checkpoint, save_checkpoint
    from low2high.models.config import UNetConfig
    from low2high.models.unet import UNet

    torch.manual_seed(0)
    network = UNet(UNetConfig(4, 4, 8)).eval()
    image, _ = scene(64, 64, seed=8)
    brighter = np.clip(image.astype(np.float32) * 0.8 + 40, 0, 255).astype(np.uint8)
    maps = []
    for name, pixels in (("a", image), ("b", brighter)):
        path = str(tmp_path / f"{name}.pt")
        save_checkpoint(path, network, ModelCard(standardisation="tile", tile_size=64, tile_overlap=0))
        raster = make_raster(str(tmp_path / f"{name}.tif"), pixels)
        segment(SegmentRequest(raster, str(tmp_path / f"{name}_map.tif"), path, tile_size=64, overlap=0))
        maps.append(read(str(tmp_path / f"{name}_map.tif")))
    assert load_checkpoint(str(tmp_path / "a.pt")).card.standardisation == "tile"
    assert (maps[0] == maps[1]).mean() > 0.9  # the same map whatever the flight's gain and offset


def test_histogram_statistics_are_tile_statistics_summed_over_parts():
    """Finetune sums Byte histograms chip by chip instead of a float64 copy of every chip: the same numbers."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (3, 4, 40, 40), dtype=np.uint8)  # 3 chips of 4 bands
    valid = rng.random((3, 40, 40)) > 0.3
    counts = sum(byte_histograms(chip, mask) for chip, mask in zip(pixels, valid))
    mean, std = histogram_statistics(counts)
    expected_mean, expected_std = tile_statistics(pixels.transpose(1, 0, 2, 3), valid)
    assert mean == pytest.approx(expected_mean, abs=1e-12) and std == pytest.approx(expected_std, abs=1e-12)
    _, flat_std = histogram_statistics(byte_histograms(np.full((4, 8, 8), 9, np.uint8), None))
    assert flat_std == pytest.approx([MIN_TILE_STD] * 4)
    empty = histogram_statistics(np.zeros((4, 256), np.int64))
    assert list(empty[0]) == [0] * 4 and list(empty[1]) == [1] * 4
