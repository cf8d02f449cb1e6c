"""Photometric augmentation: a re-photographed image, labels untouched, reproducible per sample."""
import numpy as np
from helpers import scene

from low2high.train.data.photometric import blur3, photometric


def test_strength_zero_is_the_image_and_strength_one_changes_each_band_differently():
    image, _ = scene(64, 64, seed=2)
    assert np.array_equal(photometric(image, np.random.default_rng(0), 0.0), image.astype(np.float32))
    out = photometric(image, np.random.default_rng(1), 1.0)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 255
    ratios = out.reshape(4, -1).mean(axis=1) / image.reshape(4, -1).mean(axis=1)
    assert np.ptp(ratios) > 0.01  # per-band gain: the bands move apart
    assert np.array_equal(out, photometric(image, np.random.default_rng(1), 1.0))


def test_blur_keeps_flat_areas_and_softens_edges():
    image = np.zeros((1, 8, 8), np.float32)
    image[:, :, 4:] = 100
    blurred = blur3(image)
    assert blurred[0, 0, 0] == 0 and blurred[0, 0, 7] == 100 and 0 < blurred[0, 0, 4] < 100
