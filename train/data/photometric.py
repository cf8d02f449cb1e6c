"""Photometric augmentation: make one rendered (or real) appearance look like many flights.

A model trained on one flight's radiometry learns its colours, and real NAIP differs from flight
to flight (on ../shared/data/wv_naip_dev the earlier flight's near-infrared mean is 0.73 against
0.46 in 2014). These transforms act on raw pixel values (0–255, float) before the input contract
(:func:`~low2high.core.contract.model_input`) and leave labels alone:

- per-band gain and offset (a flight's calibration and atmosphere),
- brightness and contrast of all bands together (sun, haze),
- Gaussian noise (sensor), and a 3 × 3 blur (focus, resampling).

``strength`` scales every range: 1 is a strong shift (gain × e^±0.25 per band, offsets ± 20 grey
levels, contrast × e^±0.2, noise up to 4 grey levels, blur on a third of the samples); 0 is off.
"""
from __future__ import annotations

import numpy as np

GAIN = 0.25
OFFSET = 20.0
BRIGHTNESS = 15.0
CONTRAST = 0.2
NOISE = 4.0
BLUR_SHARE = 1 / 3


def blur3(image: np.ndarray) -> np.ndarray:
    """A separable [1, 2, 1] / 4 blur of ``(bands, H, W)`` (edges replicated)."""
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), mode="edge")
    rows = (padded[:, :-2] + 2 * padded[:, 1:-1] + padded[:, 2:]) / 4  # (bands, H, W + 2)
    return (rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]) / 4


def photometric(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A randomly re-photographed copy of ``image`` ``(bands, H, W)`` as float32 in 0–255.

    Args:
        image: Raw pixels (uint8 or float).
        rng: The sample's generator (so a sample does not depend on the worker or on resuming).
        strength: Scale of every range (0: the image unchanged, as float32).
    """
    out = image.astype(np.float32)
    if strength <= 0:
        return out
    bands = out.shape[0]
    gain = np.exp(rng.uniform(-GAIN, GAIN, bands) * strength).astype(np.float32)
    offset = (rng.uniform(-OFFSET, OFFSET, bands) * strength).astype(np.float32)
    out = out * gain[:, None, None] + offset[:, None, None]  # per band
    mean = out.mean()
    contrast = np.float32(np.exp(rng.uniform(-CONTRAST, CONTRAST) * strength))
    out = (out - mean) * contrast + mean + np.float32(rng.uniform(-BRIGHTNESS, BRIGHTNESS) * strength)
    if rng.random() < BLUR_SHARE * min(strength, 1.0):
        out = blur3(out)
    sigma = rng.uniform(0, NOISE) * strength
    if sigma > 0:
        out = out + rng.normal(0, sigma, out.shape).astype(np.float32)
    return np.clip(out, 0, 255, out=out.astype(np.float32))
