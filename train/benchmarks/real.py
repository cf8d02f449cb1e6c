"""Score models on real NAIP and on freshly rendered scenes: ``python -m low2high.train evaluate-real``.

Rendered benchmark figures say little about real imagery: a model that has seen one rendered
appearance can collapse on real NAIP (the first demo model scored 15.6 mIoU on the real patches
of ``../shared/data/wv_naip_dev`` where NLCD itself scores 35.4). This command gives the figures a
demo model is chosen on, beside the Oracle (NLCD itself) on the same pixels:

- **real**: the 8 real NAIP patches of ``wv_naip_dev`` (256 px, West Virginia), each flight
  (``naip`` = 2014, ``naip_old`` = an earlier one) scored apart, against the real Chesapeake 1 m
  labels, on the top-left 240 × 240 px that the patches' 8 × 8 NLCD cells cover;
- **rendered**: the held-out test band of the benchmark area (rows 3840–4799 of the Prince
  George's County labels, which no model trains on) rendered with seeds and flight shifts a model
  never trained on, scored in 480-px tiles against the real 1 m labels.

Every prediction goes through the model card's input contract (:mod:`low2high.core.contract`),
exactly as ``low2high:segment`` does. Figures are pooled over patches (one confusion matrix per
set), macro over the classes present, as everywhere in this project.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ...core.contract import INPUT_STATISTICS
from ...core.errors import Low2HighError
from ...core.files import atomic_write_json
from ...core.progress import Progress, SilentProgress
from ...core.resources import PACKAGE_ROOT, resource_path
from ...engine.evaluation.metrics import ConfusionMatrix, Metrics
from ...engine.labels.colour_refinement import REFINEMENTS
from ...engine.labels.mapping_unit import sieve_classes, unit_in_pixels
from ...engine.labels.taxonomy import load_taxonomy
from ..config import field
from .sources import NLCD, SHARED, label_rows, render

REAL_DATA = "data/wv_naip_dev"
FLIGHTS = ("naip", "naip_old")
PATCHES = 8
NLCD_CELL = 30
#: Share of a uniform distribution mixed into the prior of ``--prior-fusion`` (no class is ever ruled out).
PRIOR_FLOOR = 0.05
#: The benchmark's held-out test band (rows of the Prince George's County rasters) and its tiles.
TEST_ROWS = (3840, 960)
TILE = 480


@dataclass
class RealConfig:
    """Settings of ``evaluate-real``."""

    checkpoints: list[str] = field([], "model files (.pt) to score; empty: the bundled demo model")
    shared: str = field(SHARED, "the shared folder holding data/wv_naip_dev (and the renderer and labels for "
                                "--rendered)")
    flights: list[str] = field(list(FLIGHTS), "real NAIP flights to score: naip (2014) and/or naip_old")
    rendered: list[str] = field([], "rendered scenes of the held-out test band, SEED or SEED:FLIGHT_SHIFT (e.g. "
                                    "101:0.1), never trained on; empty: none")
    work: str = field(os.path.join(PACKAGE_ROOT, ".build", "evaluate-real"), "folder for rendered scenes (reused)")
    standardisation: str = field("", "input statistics as segment's INPUT_STATISTICS: auto, image (each raster's "
                                     "own), model or blend; or tile (each patch's own, a probe); empty: auto, "
                                     "what segment does by default")
    min_mapping_unit: Optional[float] = field(None, "segment's MIN_MAPPING_UNIT in m² (the patches are 1 m): every "
                                                    "map sieved so; 0: as classified; empty: each model card's, "
                                                    "as segment")
    colour_refinement: str = field("auto", "segment's COLOUR_REFINEMENT: auto (each model card's), on or off")
    prior_fusion: float = field(0.0, "a probe: each pixel's class probabilities multiplied by the bundled NLCD "
                                     "prior p(class | its NLCD code) to this power (the prior mixed with "
                                     f"{PRIOR_FLOOR:g} of a uniform one) before the argmax; 0: off")
    device: str = field("cpu", "cpu or cuda")
    output_json: str = field("", "also write every figure as JSON")


@dataclass
class Scene:
    """One scored image set: raw pixels and merged reference / NLCD labels per patch."""

    name: str
    images: list[np.ndarray]  # (bands, H, W) uint8
    fine: list[np.ndarray]  # (H, W) merged classes, 255 ignore
    nlcd: list[np.ndarray]  # (H, W) merged NLCD on the same pixels, 255 ignore
    codes: list[np.ndarray] = dataclasses.field(default_factory=list)  # (H, W) raw NLCD codes on the same pixels
    one_raster: bool = False  # the patches are tiles of one raster (its statistics are theirs), not rasters apart


def _read(path: str) -> np.ndarray:
    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset is None:
        raise Low2HighError(f"Cannot open '{path}'.")
    return dataset.ReadAsArray()


def _merged(codes: np.ndarray, taxonomy: str) -> np.ndarray:
    table = load_taxonomy(taxonomy).lookup_table(65536)
    return table[codes.astype(np.int64)]


def real_scene(shared: str, flight: str) -> Scene:
    """The real patches of one flight, cut to the pixels their NLCD cells cover."""
    folder = os.path.join(shared, REAL_DATA)
    if flight not in FLIGHTS:
        raise Low2HighError(f"Unknown flight '{flight}'; choose {' or '.join(FLIGHTS)}.")
    if not os.path.isdir(folder):
        raise Low2HighError(f"The real NAIP patches are not in '{folder}'; give the shared folder with --shared.")
    scene = Scene(f"real NAIP, {'2014' if flight == 'naip' else 'earlier'} flight", [], [], [])
    for index in range(PATCHES):
        stem = os.path.join(folder, f"wv_{index:02d}")
        codes = np.repeat(np.repeat(_read(f"{stem}_nlcd.tif"), NLCD_CELL, 0), NLCD_CELL, 1)
        side = codes.shape[0]
        scene.images.append(_read(f"{stem}_{flight}.tif")[:, :side, :side])
        scene.fine.append(_merged(_read(f"{stem}_lc.tif"), "chesapeake")[:side, :side])
        scene.codes.append(codes)
        scene.nlcd.append(_merged(codes, "nlcd"))
    return scene


def parse_rendered(text: str) -> tuple[int, float]:
    """``SEED`` or ``SEED:FLIGHT_SHIFT`` → (seed, shift)."""
    seed, _, shift = text.partition(":")
    try:
        return int(seed), float(shift or 0.0)
    except ValueError:
        raise Low2HighError(f"A rendered scene is SEED or SEED:FLIGHT_SHIFT (e.g. 101:0.1), not '{text}'.") from None


def rendered_scene(shared: str, work: str, seed: int, shift: float, progress: Progress) -> Scene:
    """The held-out test band rendered with ``seed`` / ``shift`` (rendered once, then reused)."""
    os.makedirs(work, exist_ok=True)
    top, height = TEST_ROWS
    labels = os.path.join(work, "test_band_lc.tif")
    label_rows(shared, labels, top, height)
    image = os.path.join(work, f"test_band_seed{seed}_shift{shift:g}.tif")
    if not os.path.exists(image):
        progress.info(f"Rendering the held-out test band, seed {seed}, flight shift {shift:g}...")
        render(shared, labels, image, seed, shift)
    pixels = _read(image)
    fine = _merged(_read(labels), "chesapeake")
    codes = _read(os.path.join(shared, NLCD))[top:top + height]
    nlcd = _merged(codes, "nlcd")
    scene = Scene(f"rendered test band, seed {seed}, flight shift {shift:g}", [], [], [], one_raster=True)
    for row in range(0, height - TILE + 1, TILE):
        for col in range(0, fine.shape[1] - TILE + 1, TILE):
            window = (slice(row, row + TILE), slice(col, col + TILE))
            scene.images.append(pixels[(slice(None),) + window])
            scene.fine.append(fine[window])
            scene.nlcd.append(nlcd[window])
            scene.codes.append(codes[window])
    return scene


def predict_scene(model: Any, card: Any, scene: Scene, statistics: str = "auto",
                  fusion: Optional[tuple[np.ndarray, float]] = None, refinement: str = "auto") -> list[np.ndarray]:
    """Class maps of every patch, fed as ``segment`` feeds a raster (INPUT_STATISTICS ``statistics``,
    COLOUR_REFINEMENT ``refinement``).

    ``image`` statistics are each raster's own: every real patch's, or the whole rendered band's
    (the tiles of one raster share them). ``tile`` (a probe) standardises each patch by its own.
    The colour refinement is fitted per raster likewise: on each real patch, on the whole rendered band.
    ``fusion``: a (codes, K) prior table and its power α (``--prior-fusion``).
    """
    import torch

    from ...engine.labels.colour_refinement import fit_and_refine, refinement_applies
    from ..scoring.predict import predict_logits

    fed_cards = _fed_cards(card, scene, statistics)
    refine = refinement_applies(refinement, card.colour_refinement, fed_cards[0].standardisation)
    predicted = []  # (probabilities (K, H, W), network input, valid) per patch
    for index, (pixels, fed) in enumerate(zip(scene.images, fed_cards)):
        valid = pixels.max(axis=0) > 0
        features = fed.normalise(pixels, valid)
        scores = torch.log_softmax(predict_logits(model, torch.from_numpy(features[None]), amp=False)[0], dim=0)
        scores = scores.cpu().numpy()
        if fusion is not None:
            scores = scores + fusion[1] * np.log(_prior_at(fusion[0], scene.codes[index])).transpose(2, 0, 1)
        probabilities = np.exp(scores - scores.max(axis=0))
        predicted.append((probabilities / probabilities.sum(axis=0), features, valid))
    if refine:
        rasters = [predicted] if scene.one_raster else [[patch] for patch in predicted]
        refined = []
        for raster in rasters:
            probabilities = fit_and_refine(np.stack([p for p, _, _ in raster]), np.stack([f for _, f, _ in raster]),
                                           [v for _, _, v in raster])
            refined += [(probability, features, valid) for probability, (_, features, valid)
                        in zip(probabilities, raster)]
        predicted = refined
    maps = []
    for probabilities, _, valid in predicted:
        classes = probabilities.argmax(axis=0).astype(np.uint8)
        classes[~valid] = 255
        maps.append(classes)
    return maps


def _prior_at(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """(H, W, K) p(class | code) of each pixel, mixed with :data:`PRIOR_FLOOR` of a uniform distribution
    (codes the prior does not know: uniform)."""
    classes = table.shape[1]
    rows = table[np.clip(codes.astype(np.int64), 0, len(table) - 1)]
    rows = np.where(np.isnan(rows), 1.0 / classes, rows)
    return (1 - PRIOR_FLOOR) * rows + PRIOR_FLOOR / classes


def _fed_cards(card: Any, scene: Scene, statistics: str) -> list[Any]:
    """The card each patch is standardised by: the model's, each patch's own (``tile``), or what
    :func:`raster_card` gives its raster (each patch, or the scene's patches together)."""
    if statistics == "tile":
        return [dataclasses.replace(card, standardisation="tile")] * len(scene.images)
    if scene.one_raster:  # the tiles of one raster share its statistics
        return [raster_card(card, scene.images, statistics)] * len(scene.images)
    return [raster_card(card, [pixels], statistics) for pixels in scene.images]


def raster_card(card: Any, rasters: Sequence[np.ndarray], statistics: str = "auto",
                valid: Optional[Sequence[np.ndarray]] = None) -> Any:
    """The card a raster made of ``rasters`` ((bands, H, W) pieces) is fed by under segment's
    INPUT_STATISTICS ``statistics``: the model's own, or with the raster's own statistics (``image``)
    or half each (``blend``), as :mod:`~low2high.engine.inference.statistics` measures them over a
    region (``valid``: each piece's pixels with data; empty: any band above 0)."""
    from ...core.contract import fed_statistics, statistics_source, tile_statistics

    source = statistics_source(statistics, card.standardisation, card.input_statistics)
    if source == "model":
        return card
    inside = [raster.max(axis=0) > 0 for raster in rasters] if valid is None else valid
    pixels = np.concatenate([raster[:, mask] for raster, mask in zip(rasters, inside)], axis=1)  # (bands, N)
    mean, std = tile_statistics(pixels, None)
    fed_mean, fed_std = fed_statistics(source, card.mean, card.std, mean, std, pixels.shape[1])
    return dataclasses.replace(card, mean=fed_mean, std=fed_std, standardisation="dataset")


def score(predictions: Sequence[np.ndarray], references: Sequence[np.ndarray]) -> Metrics:
    matrix = ConfusionMatrix()
    for prediction, reference in zip(predictions, references):
        matrix.update(prediction, reference)
    return matrix.compute()


def evaluate_real(config: RealConfig, progress: Optional[Progress] = None) -> dict[str, Any]:
    """Score the Oracle and every checkpoint on each scene; returns {scene: {name: summary}}."""
    from ...models.checkpoint import CheckpointError, load_checkpoint

    progress = progress or SilentProgress()
    choices = ("", *INPUT_STATISTICS, "tile")
    if config.standardisation not in choices:
        raise Low2HighError(f"--standardisation is one of {', '.join(choices[1:])} (or empty: auto), not "
                            f"'{config.standardisation}'.")
    if config.colour_refinement not in REFINEMENTS:
        raise Low2HighError(f"--colour-refinement is one of {', '.join(REFINEMENTS)}, not "
                            f"'{config.colour_refinement}'.")
    fusion = _fusion(config.prior_fusion)
    scenes = [real_scene(config.shared, flight) for flight in config.flights]
    scenes += [rendered_scene(config.shared, config.work, *parse_rendered(text), progress) for text in config.rendered]
    results: dict[str, Any] = {scene.name: {"Oracle (NLCD itself)": score(scene.nlcd, scene.fine).summary()}
                               for scene in scenes}
    for path in config.checkpoints or [resource_path("models", "demo.pt")]:
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError as error:
            raise Low2HighError(str(error)) from None
        model = checkpoint.build_model(config.device)
        statistics = config.standardisation or "auto"
        name = path + (f" (fed {statistics} statistics)" if config.standardisation else "")
        area = checkpoint.card.min_mapping_unit if config.min_mapping_unit is None else config.min_mapping_unit
        name += f" (unit {config.min_mapping_unit:g} m²)" if config.min_mapping_unit is not None else ""
        name += f" (NLCD prior ^{config.prior_fusion:g})" if config.prior_fusion else ""
        name += f" (colour refinement {config.colour_refinement})" if config.colour_refinement != "auto" else ""
        unit = unit_in_pixels(area, pixel_area_m2=1.0)  # the patches are 1 m
        for scene in scenes:
            maps = [sieve_classes(classes, unit) for classes in predict_scene(
                model, checkpoint.card, scene, statistics, fusion, config.colour_refinement)]
            results[scene.name][name] = score(maps, scene.fine).summary()
    if config.output_json:
        atomic_write_json(config.output_json, results)
    return results


def _fusion(alpha: float) -> Optional[tuple[np.ndarray, float]]:
    """The bundled NLCD prior and ``--prior-fusion``'s power, or None when it is 0."""
    if alpha < 0:
        raise Low2HighError(f"--prior-fusion is a power of at least 0 (0: off), not {alpha:g}.")
    if not alpha:
        return None
    from ..data.priors import read_prior
    from ..finetune.task import BUNDLED_NLCD_PRIOR

    return read_prior(BUNDLED_NLCD_PRIOR).table(), alpha


def table(results: dict[str, Any]) -> str:
    """One Markdown row per (scene, model): Acc, F1, mIoU in %."""
    lines = ["| scene | model | Acc | F1 | mIoU |", "|---|---|---|---|---|"]
    for scene, rows in results.items():
        for name, summary in rows.items():
            lines.append(f"| {scene} | {name} | {100 * summary['accuracy']:.1f} | {100 * summary['macro_f1']:.1f} | "
                         f"{100 * summary['macro_iou']:.1f} |")
    return "\n".join(lines)
