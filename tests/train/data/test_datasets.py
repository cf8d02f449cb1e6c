"""ChipDataset: normalisation, whole-cell crops, consistent augmentation, skipping chips without labels."""
import numpy as np
import pytest
import torch
from train_helpers import FACTOR, synthetic_chip, write_dataset

from low2high.core.errors import Low2HighError
from low2high.engine.labels.alignment import block_majority
from low2high.train.data.datasets import ChipDataset
from low2high.train.data.info import DatasetInfo, read_dataset_info, training_crop
from low2high.train.scoring.predict import forward_padded, pad_to_multiple


def test_samples_are_normalised_whole_chips_with_labels(chip_dataset):
    dataset = ChipDataset(chip_dataset, ["val"], require=None)
    info = read_dataset_info(chip_dataset)
    sample, raw = dataset[0], dataset.arrays(0)
    mean, std = np.array(info.mean)[:, None, None], np.array(info.std)[:, None, None]
    assert sample["image"].dtype == np.float32 and sample["image"].shape == (4, 96, 96)
    np.testing.assert_allclose(sample["image"], (raw["image"] / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)
    assert sample["fine"].dtype == np.int64 and np.array_equal(sample["fine"], raw["fine"])
    assert sample["coarse"].shape == (12, 12) and np.array_equal(sample["coarse"], raw["coarse"])
    assert sample["valid"].all() and dataset.cached


def test_crops_take_whole_cells_and_keep_coarse_labels_in_step(chip_dataset):
    dataset = ChipDataset(chip_dataset, ["train"], crop=64, seed=3)
    seen = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample, raw = dataset[index], dataset.arrays(index)
            assert sample["image"].shape == (4, 64, 64) and sample["coarse"].shape == (8, 8)
            # Find the crop's offset from the fine labels and check the coarse labels are the same cells.
            matches = [(top, left) for top in range(0, 33, FACTOR) for left in range(0, 33, FACTOR)
                       if np.array_equal(raw["fine"][top:top + 64, left:left + 64], sample["fine"])]
            assert matches
            top, left = matches[0]
            assert np.array_equal(sample["coarse"], raw["coarse"][top // 8:top // 8 + 8, left // 8:left // 8 + 8])
            seen.add((top, left))
    assert len(seen) > 3  # the offsets vary
    again = ChipDataset(chip_dataset, ["train"], crop=64, seed=3)
    again.set_epoch(3)
    assert np.array_equal(again[1]["image"], dataset[1]["image"])  # same seed, epoch, chip: same crop


def test_augmentation_moves_image_fine_and_coarse_together(tmp_path):
    # Coarse labels are the block majority of the fine ones, which every flip / quarter turn preserves.
    folder = write_dataset(str(tmp_path / "ds"), [synthetic_chip("train", seed) for seed in range(3)])
    dataset = ChipDataset(folder, ["train"], crop=64, augment=True, seed=1)
    plain = ChipDataset(folder, ["train"], crop=64, augment=False, seed=1)
    changed = 0
    for epoch in range(6):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[index]
            assert np.array_equal(sample["coarse"], block_majority(sample["fine"], FACTOR, 255))
            raw = plain.arrays(index)
            turned = [np.rot90(raw["fine"], k) for k in range(4)]
            symmetries = turned + [t[:, ::-1] for t in turned]
            position = [i for i, s in enumerate(symmetries) if np.array_equal(s, sample["fine"])]
            assert position  # fine labels are one symmetry of the chip
            image = raw["image"][0]
            images = [np.rot90(image, k) for k in range(4)]
            images += [i[:, ::-1] for i in images]
            assert np.array_equal(np.argsort(images[position[0]].ravel()[:50]),
                                  np.argsort(sample["image"][0].ravel()[:50]))  # the image moved the same way
            changed += position[0] != 0
    assert changed > 5


def test_chips_without_coarse_labels_are_skipped_or_refused(tmp_path):
    chips = [synthetic_chip("train", 0), synthetic_chip("train", 1, coarse_nodata=True), synthetic_chip("val", 2)]
    folder = write_dataset(str(tmp_path / "ds"), chips)
    dataset = ChipDataset(folder, ["train"])
    assert len(dataset) == 1 and dataset.skipped == 1
    assert len(ChipDataset(folder, ["train"], require=None)) == 2
    empty = write_dataset(str(tmp_path / "empty"), [synthetic_chip("train", 1, coarse_nodata=True)])
    with pytest.raises(Low2HighError, match="None of the 1 chips of train holds a single coarse label"):
        ChipDataset(empty, ["train"])


def test_unknown_splits_and_bad_crops_are_refused(chip_dataset):
    with pytest.raises(Low2HighError, match="no split 'nope'.*held-out"):
        ChipDataset(chip_dataset, ["nope"])
    with pytest.raises(Low2HighError, match="whole coarse cells"):
        ChipDataset(chip_dataset, ["train"], crop=60)
    with pytest.raises(Low2HighError, match="larger than the chips"):
        ChipDataset(chip_dataset, ["train"], crop=128)


def test_training_crop_is_a_multiple_of_lcm_n_32():
    def info(factor, size):
        return DatasetInfo("x", factor, size, ("r",), (0.5,), (0.2,), 1.0, ("a",), {})

    assert training_crop(info(30, 510), None) == 480  # the paper's NLCD over NAIP
    assert training_crop(info(8, 96), None) == 96  # lcm(8, 32) = 32 divides 96: whole chips
    assert training_crop(info(50, 500), None) == 0  # lcm 800 > 500: whole chips, padded
    with pytest.raises(Low2HighError, match="multiple of 480"):
        training_crop(info(30, 510), 256)


def test_padding_for_the_network_and_cropping_back():
    images = torch.arange(2 * 3 * 40 * 50, dtype=torch.float32).reshape(2, 3, 40, 50)
    padded = pad_to_multiple(images)
    assert padded.shape == (2, 3, 64, 64) and torch.equal(padded[..., :40, :50], images)
    assert torch.equal(padded[..., 40, :50], images[..., 38, :])  # reflection at the bottom
    logits = forward_padded(torch.nn.Conv2d(3, 4, 1), images)
    assert logits.shape == (2, 4, 40, 50)
