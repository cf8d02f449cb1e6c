"""Sharpen a model's map with the image's own class colours (``segment`` COLOUR_REFINEMENT).

A network taught by 30 m labels learns *where* classes are better than their exact edges: its map
is right in the large and blurred in the small (roofs merge into blobs, lawns into the woods
around them; docs/quality.md). The image knows the edges. So the model first classifies a
sample of the region; the pixels it is most sure of for each class (at or above that class's
median probability, among the pixels where the class wins) give the class's mean colour *in this
image*, and all of them together one shared spread (a pooled covariance, i.e. linear discriminant
analysis: a class of broad colours, such as forest, cannot swallow its neighbours as it would
with a covariance of its own). Every pixel's probabilities are then weighted by how well its
colour fits each class and renormalised:

    p'(k | pixel) ∝ p(k | pixel)^½ · N(colour; μ_k, Σ)     (the power: :data:`MODEL_WEIGHT`)

The colours are the network's own input (the standardised bands: an affine map of the pixels,
which leaves the discriminant unchanged). The fit is made once per run, before the tiled pass,
and is the same for every tile, so there are no seams; like INPUT_STATISTICS ``image`` it adapts
to each image's radiometry. A class the model is hardly sure of (fewer than :data:`MIN_CLASS_PIXELS`
sure pixels) gets no colour. When the sample was the whole image, the class is absent from it but
for stray specks, and it drops out of the refined map (where one class alone has a colour, the
map is that class). When the sample was part of a larger image, the class may live where the
sample did not look (a lake between the sampled windows), so its colour evidence is neutral: it
keeps the model's say against the best-fitting coloured class. With no coloured class at all the
run is left as the model drew it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

import numpy as np

from ...core.errors import Low2HighError

REFINEMENTS = ("auto", "on", "off")
"""``segment``'s COLOUR_REFINEMENT: the model card's choice (auto), or forced on / off."""

SURE_QUANTILE = 0.5
"""Of the pixels where a class wins, those at or above this quantile of its probability give its colour."""
MIN_CLASS_PIXELS = 200
"""Sure pixels a class needs in the sample to get a colour (fewer: too few to measure a mean)."""
COVARIANCE_FLOOR = 1e-3
"""Ridge added to the pooled covariance, as a share of its mean variance (flat bands stay invertible)."""
MODEL_WEIGHT = 0.5
"""Power of the model's probabilities against the colour likelihood: p'(k) ∝ p(k)^MODEL_WEIGHT · N(x; μ_k, Σ).

Half, not 1: a tile's probabilities near its edges differ a little from a single pass's, and the
weaker they weigh, the less those differences flip refined near-ties, which is what the colours
(the same in every tile) decide. Measured on the demo model: at 1, tiled runs disagreed with a
single pass 1.6 times as often along seams as elsewhere; at 0.5, no more often; map quality within
0.6 mIoU of 1 on every scene (docs/quality.md)."""
SAMPLE_PIXELS = 4_000_000
"""Tile pixels the model classifies at most to fit the colours (the whole region when smaller)."""
SAMPLE_STRIDE = 2
"""Every SAMPLE_STRIDE-th pixel of a sampled tile, each way, enters the fit (neighbours repeat each other)."""


def check_refinement(requested: str) -> None:
    """Raises Low2HighError, with the sentence segment and segment-many give, unless ``requested`` is one of
    :data:`REFINEMENTS`."""
    if requested not in REFINEMENTS:
        raise Low2HighError(f"COLOUR_REFINEMENT must be one of {', '.join(REFINEMENTS)} (got '{requested}').")


def refinement_wanted(requested: str, card_default: bool) -> bool:
    """Whether a run refines: COLOUR_REFINEMENT ``on``/``off``, or the model card's choice for ``auto``.

    Raises:
        Low2HighError: ``requested`` is not one of :data:`REFINEMENTS`.
    """
    check_refinement(requested)
    return card_default if requested == "auto" else requested == "on"


def refinement_applies(requested: str, card_default: bool, standardisation: str) -> bool:
    """Whether a run whose network input is standardised by ``standardisation`` refines: when it is wanted
    (:func:`refinement_wanted`) and the input is not standardised tile by tile (each tile's colours on its
    own scale: one colour model would not fit every tile)."""
    return refinement_wanted(requested, card_default) and standardisation != "tile"


@dataclass(frozen=True)
class ColourModel:
    """Linear discriminant of the classes' colours: log N(x; μ_k, Σ) = x·w_k + b_k + (same for every k).

    Attributes:
        weights: (K, F) Σ⁻¹ μ_k per class (zero for a class without a colour).
        offsets: (K,) −½ μ_kᵀ Σ⁻¹ μ_k per class.
        pixels: sure pixels each class was fitted on (0: no colour).
        keep_uncoloured: a class without a colour keeps the model's say (its colour score is the
            best coloured class's) instead of dropping out (the sample was not the whole image).
    """

    weights: np.ndarray
    offsets: np.ndarray
    pixels: np.ndarray
    keep_uncoloured: bool = False

    @property
    def coloured(self) -> np.ndarray:
        """(K,) bool: the classes that have a colour."""
        return self.pixels > 0

    def refine(self, probabilities: np.ndarray, features: np.ndarray) -> np.ndarray:
        """(B, K, H, W) probabilities and (B, F, H, W) colours → the refined (B, K, H, W) probabilities.

        Computed as p^MODEL_WEIGHT · exp(score − its maximum), normalised: one matrix product, one
        exponential and a square root per pixel (a log and an exp of the probabilities cost twice
        as much; it runs on the model threads, once per pass).
        """
        batch, classes, height, width = probabilities.shape
        coloured = self.coloured
        refined = np.empty(probabilities.shape, np.float32)
        for index in range(batch):
            colours = np.ascontiguousarray(features[index], dtype=np.float32).reshape(features.shape[1], -1)
            scores = self.weights @ colours
            scores += self.offsets[:, None]
            scores -= np.maximum.reduce(scores[coloured], axis=0)
            scores[~coloured] = 0.0 if self.keep_uncoloured else -np.inf
            np.exp(scores, out=scores)
            model = np.maximum(np.ascontiguousarray(probabilities[index], dtype=np.float32).reshape(classes, -1),
                               1e-12)
            scores *= np.sqrt(model) if MODEL_WEIGHT == 0.5 else model ** MODEL_WEIGHT
            scores /= np.add.reduce(scores, axis=0)
            refined[index] = scores.reshape(classes, height, width)
        return refined


class ColourFit:
    """Gathers sure pixels from sampled predictions, then fits :class:`ColourModel`."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self._winners: list[np.ndarray] = []  # per sample: (N,) winning class
        self._sureness: list[np.ndarray] = []  # per sample: (N,) its probability
        self._colours: list[np.ndarray] = []  # per sample: (N, F)

    def add(self, probabilities: np.ndarray, features: np.ndarray, valid: np.ndarray, stride: int = 1) -> None:
        """One prediction: (K, H, W) probabilities, (F, H, W) colours, (H, W) valid pixels."""
        picked = (slice(None), slice(None, None, stride), slice(None, None, stride))
        probabilities, features, valid = probabilities[picked], features[picked], valid[picked[1:]]
        winners = probabilities.argmax(axis=0)[valid]
        self._winners.append(winners.astype(np.int16))
        self._sureness.append(probabilities.max(axis=0)[valid].astype(np.float32))
        self._colours.append(features[:, valid].T.astype(np.float32))

    def fit(self, whole_image: bool = True) -> Optional[ColourModel]:
        """The colour model, or None when no class has enough sure pixels.

        ``whole_image``: the samples added were the whole image (classes without a colour drop out),
        not a part of it (they keep the model's say).
        """
        if not self._winners:
            return None
        winners, sureness = np.concatenate(self._winners), np.concatenate(self._sureness)
        colours = np.concatenate(self._colours).astype(np.float64)
        count = self.num_classes
        bands = colours.shape[1]
        means = np.zeros((count, bands))
        pixels = np.zeros(count, np.int64)
        scatter = np.zeros((bands, bands))
        for k in range(count):
            wins = winners == k
            if wins.sum() < MIN_CLASS_PIXELS:
                continue
            sure = wins & (sureness >= np.quantile(sureness[wins], SURE_QUANTILE))
            if sure.sum() < MIN_CLASS_PIXELS:
                continue
            chosen = colours[sure]
            means[k] = chosen.mean(axis=0)
            centred = chosen - means[k]
            scatter += centred.T @ centred
            pixels[k] = len(chosen)
        if not pixels.any():
            return None
        covariance = scatter / pixels.sum()
        covariance += COVARIANCE_FLOOR * max(float(np.trace(covariance)) / bands, 1e-12) * np.eye(bands)
        inverse = np.linalg.inv(covariance)
        weights = means @ inverse  # (K, F); Σ⁻¹ is symmetric
        offsets = -0.5 * np.einsum("kf,kf->k", weights, means)
        coloured = pixels > 0
        weights[~coloured] = 0.0
        offsets[~coloured] = 0.0
        return ColourModel(weights.astype(np.float32), offsets.astype(np.float32), pixels, not whole_image)


def fit_and_refine(probabilities: np.ndarray, features: np.ndarray,
                   valid: Iterable[np.ndarray]) -> np.ndarray:
    """Refine whole arrays at once: (B, K, H, W) probabilities, (B, F, H, W) colours, B valid masks.

    The colour model is fitted on all of them together (one raster's pieces), as ``segment`` fits
    it on its sample; used where a whole scene is predicted in memory (the benchmarks). Returns
    the probabilities unchanged when no model can be fitted.
    """
    fit = ColourFit(probabilities.shape[1])
    for index, mask in enumerate(valid):
        fit.add(probabilities[index], features[index], mask)
    model = fit.fit()
    return probabilities if model is None else model.refine(probabilities, features)
