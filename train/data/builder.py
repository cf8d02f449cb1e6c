"""The dataset builder behind ``build-dataset`` (paper, Section 3.1): aligned image / fine / coarse chips.

What it keeps and how it splits is the command's help (:mod:`..commands.build_dataset`);
:mod:`.chips` documents the format. Resumable: chips already written are skipped, a folder built
with other settings is refused.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
from osgeo import gdal
from tqdm import tqdm

from ...core.errors import Low2HighError
from ...core.files import atomic_write_json
from ...core.progress import Countdown, Progress, SilentProgress
from ...engine.geo.gdal_scope import with_gdal
from ...engine.geo.grid import Window
from ...engine.geo.raster_io import RasterSource, crs_name
from ...engine.geo.resample import ground_sample_distance
from ...engine.geo.views import check_overlap, nearest_view
from ...engine.labels.alignment import block_majority, label_type, resolve_factor
from ...engine.labels.classes import MERGED_NAMES, NODATA
from ...engine.labels.rasters import LabelRemapper, read_labels, require_integer_labels, require_single_band
from ...engine.labels.taxonomy import Taxonomy, load_taxonomy
from ..config import field
from .chips import (
    CHIP_FOLDER,
    DATASET_FILE,
    FORMAT_NAME,
    FORMAT_VERSION,
    HISTOGRAM_NAMES,
    INDEX_FILE,
    RAW_NODATA,
    chip_id,
    chip_path,
    load_chip,
    remove_partial_chips,
    write_chip,
    write_index,
)
from .splits import SPLITS, HeldOutRegion, assign_splits, check_fractions, parse_regions, region_of

#: The paper's chips are 512 px; with a factor n the default is the multiple of n closest to it.
PAPER_CHIP_SIZE = 512
_STAT_KEYS = ("image_stats", "fine_hist", "coarse_hist")


@dataclass
class BuildDatasetConfig:
    """Settings of ``build-dataset`` (flags, or a YAML/JSON file with ``--config``)."""

    image: str = field("", "image raster (8-bit, e.g. 4-band NAIP); its grid is the dataset's grid")
    fine_labels: str = field("", "high-resolution label raster (any CRS)")
    coarse_labels: str = field("", "low-resolution label raster, e.g. 30 m NLCD (any CRS)")
    output: str = field("", "dataset folder (created; re-running resumes)")
    fine_taxonomy: str = field("chesapeake", "taxonomy of the fine labels: nlcd, chesapeake, enviroatlas, merged, "
                                             "custom")
    coarse_taxonomy: str = field("nlcd", "taxonomy of the coarse labels: nlcd, chesapeake, enviroatlas, merged, custom")
    fine_mapping: str = field("", "custom fine taxonomy: code:class,... or a .json/.csv file")
    coarse_mapping: str = field("", "custom coarse taxonomy: code:class,... or a .json/.csv file")
    factor: Optional[int] = field(None, "coarse cell side in image pixels (empty: coarse / image pixel size; "
                                        "required when the coarse labels were resampled to the image grid)")
    chip_size: Optional[int] = field(None, "chip side in pixels, a multiple of the factor (empty: the multiple "
                                           "closest to 512)")
    min_classes: int = field(3, "omit chips with fewer classes than this in either label source")
    max_class_share: float = field(0.75, "omit chips where one class covers more than this share in either source")
    max_nodata_share: float = field(0.25, "omit chips where more than this share has no label or no image")
    split_fractions: list[float] = field([0.75, 0.10, 0.10, 0.05], "shares of train, val, held-out, test")
    seed: int = field(0, "seed of the split")
    regions: Union[str, list] = field("", "regions held out as split region:NAME: 'NAME:XMIN,YMIN,XMAX,YMAX' "
                                          "(image CRS) or 'NAME:pixels:COL,ROW,WIDTH,HEIGHT', ';'-separated")
    bands: list[int] = field([], "image bands to keep, 1-based (empty: all)")
    band_names: list[str] = field([], "names of the kept bands (empty: from the raster, e.g. red,green,blue)")
    strict: bool = field(False, "stop on label codes the taxonomy does not list (else they are ignored)")


@dataclass
class ChipSummary:
    """A kept chip: where it is, its split ('' until assigned) and its statistics."""

    chip: str
    window: Window
    split: str
    fine_hist: np.ndarray
    coarse_hist: np.ndarray
    image_stats: np.ndarray
    new: bool  # written by this run (not found on disk)


@dataclass
class DatasetSummary:
    folder: str
    factor: int
    chip_size: int
    split_counts: dict[str, int]
    written: int  # chips written by this run
    skipped: int  # chips already on disk
    dropped: dict[str, int]  # reason → chips omitted
    mean: Optional[list[float]]
    std: Optional[list[float]]

    def describe(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in self.split_counts.items())
        dropped = ", ".join(f"{count} {reason}" for reason, count in self.dropped.items()) or "none"
        return (f"{self.folder}: {sum(self.split_counts.values())} chips of {self.chip_size} px (coarse cells of "
                f"{self.factor} px): {splits}. Written now: {self.written}, already there: {self.skipped}. "
                f"Omitted: {dropped}.")


@dataclass
class _Sources:
    """The opened rasters and everything derived from them that the chips need."""

    image: RasterSource
    labels: tuple[RasterSource, RasterSource]  # fine, coarse (opened once, checked, then viewed on the image grid)
    bands: list[int]
    band_names: list[str]
    factor: int
    chip_size: int
    fine: Taxonomy
    coarse: Taxonomy


@with_gdal
def build_dataset(config: BuildDatasetConfig, progress: Optional[Progress] = None,
                  progress_bar: bool = True) -> DatasetSummary:
    """Build (or resume) the chip dataset described by ``config``.

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix.
    """
    progress = progress or SilentProgress()
    settings = _settings(config)
    sources = _open_sources(config, progress)
    regions = parse_regions(config.regions, sources.image.grid)
    folder = os.path.abspath(config.output)
    _prepare_folder(folder, settings, progress)
    _write_description(folder, settings, sources, complete=False)

    kept: list[ChipSummary] = []
    dropped: Counter = Counter()
    windows = _chip_windows(sources)
    with ExitStack() as stack:
        views = _label_views(stack, sources)
        remappers = (LabelRemapper(sources.fine, "the fine labels"), LabelRemapper(sources.coarse, "the coarse labels"))
        bar = stack.enter_context(tqdm(total=len(windows), unit="chip", desc="build-dataset", disable=not progress_bar))
        countdown = Countdown(progress, len(windows), "chips")  # the bar is for a terminal; this line is for logs
        for chip, window in windows:
            outcome = _chip(folder, chip, window, regions, sources, views, remappers, config, progress)
            if isinstance(outcome, str):
                dropped[outcome] += 1
            else:
                kept.append(outcome)
            bar.update()
            countdown.advance()
        for remapper in remappers:
            remapper.report(config.strict, progress)
    written = sum(1 for item in kept if item.new)

    _assign(kept, config)
    mean, std = _normalisation([item for item in kept if item.split == "train"], progress)
    counts = {name: sum(1 for item in kept if item.split == name) for name in SPLITS}
    counts.update({region.split: sum(1 for item in kept if item.split == region.split) for region in regions})
    write_index(os.path.join(folder, INDEX_FILE), [_index_row(folder, item, sources) for item in kept])
    summary = DatasetSummary(folder, sources.factor, sources.chip_size, counts, written, len(kept) - written,
                             dict(dropped), mean, std)
    _write_description(folder, settings, sources, complete=True, summary=summary)
    return summary


def _chip(folder: str, chip: str, window: Window, regions: Sequence[HeldOutRegion], sources: _Sources,
          views: tuple[RasterSource, RasterSource], remappers: tuple[LabelRemapper, ...], config: BuildDatasetConfig,
          progress: Progress) -> Union[ChipSummary, str]:
    """Cut and write one chip, or take it from disk; a string says why it was omitted instead."""
    region, straddles = region_of(window, regions)
    if straddles:
        return "straddles a held-out region"
    path = chip_path(folder, chip)
    stats = _existing_stats(path, progress)
    new = stats is None
    if new:
        arrays = _cut_chip(sources, views, remappers, window, config.strict, progress)
        reason = chip_verdict(arrays["fine_hist"], arrays["coarse_hist"], config)
        if reason:
            return reason
        write_chip(path, arrays)
        stats = {key: arrays[key] for key in _STAT_KEYS}
    assert stats is not None
    return ChipSummary(chip, window, region.split if region else "", stats["fine_hist"], stats["coarse_hist"],
                       stats["image_stats"], new)


def chip_verdict(fine_hist: np.ndarray, coarse_hist: np.ndarray, config: BuildDatasetConfig) -> Optional[str]:
    """Why a chip is omitted (None: kept). Histograms: pixels of the 4 classes, then nodata.

    The paper's rule, applied to each label source: fewer than ``min_classes`` classes, or one
    class over ``max_class_share`` of the labelled pixels, omits the chip; so does a share of
    nodata over ``max_nodata_share``.
    """
    for hist in (fine_hist, coarse_hist):
        total, labelled = int(hist.sum()), int(hist[: len(MERGED_NAMES)].sum())
        if total == 0 or (total - labelled) / total > config.max_nodata_share:
            return "too much nodata"
    for hist in (fine_hist, coarse_hist):
        classes = hist[: len(MERGED_NAMES)]
        if np.count_nonzero(classes) < config.min_classes:
            return f"fewer than {config.min_classes} classes"
    for hist in (fine_hist, coarse_hist):
        classes = hist[: len(MERGED_NAMES)]
        if classes.max() / classes.sum() > config.max_class_share:
            return f"one class over {config.max_class_share:.0%}"
    return None


def _settings(config: BuildDatasetConfig) -> dict[str, Any]:
    """The config as recorded in dataset.json: input paths absolute, so resuming elsewhere matches."""
    for name in ("image", "fine_labels", "coarse_labels", "output"):
        if not getattr(config, name):
            raise Low2HighError(f"build-dataset needs --{name.replace('_', '-')}.")
    check_fractions(config.split_fractions)
    if config.min_classes < 1 or not 0 < config.max_class_share <= 1 or not 0 <= config.max_nodata_share <= 1:
        raise Low2HighError("min_classes must be at least 1, max_class_share in (0, 1] and max_nodata_share in [0, 1].")
    settings = dataclasses.asdict(config)
    for name in ("image", "fine_labels", "coarse_labels", "output"):
        settings[name] = os.path.abspath(settings[name])
    for name in ("fine_mapping", "coarse_mapping"):
        if os.path.splitext(settings[name])[1].lower() in (".json", ".csv"):
            settings[name] = os.path.abspath(settings[name])
    return json.loads(json.dumps(settings))


def _open_sources(config: BuildDatasetConfig, progress: Progress) -> _Sources:
    image = RasterSource.open(config.image, "image raster")
    if image.data_type_name != "Byte":
        raise Low2HighError(f"The image must be 8-bit (Byte, as NAIP) but is {image.data_type_name}; rescale it first.")
    labels = {}
    for path, what in ((config.fine_labels, "fine label raster"), (config.coarse_labels, "coarse label raster")):
        labels[what] = RasterSource.open(path, what)
        require_integer_labels(labels[what], f"The {what}")
        require_single_band(labels[what], f"The {what}")
        check_overlap(labels[what].grid, image.grid, f"The {what}", "the image")
    coarse = labels["coarse label raster"]
    factor = resolve_factor(ground_sample_distance(coarse.grid), ground_sample_distance(image.grid), config.factor,
                            progress, "The coarse label raster", "the image", "--factor")
    bands = list(config.bands) or list(range(1, image.band_count + 1))
    if any(not 1 <= band <= image.band_count for band in bands):
        raise Low2HighError(f"bands {bands} do not all exist: the image has {image.band_count} bands.")
    return _Sources(image, (labels["fine label raster"], coarse), bands,
                    _band_names(image, bands, config.band_names), factor,
                    chip_size_for(config.chip_size, factor), load_taxonomy(config.fine_taxonomy, config.fine_mapping),
                    load_taxonomy(config.coarse_taxonomy, config.coarse_mapping))


def chip_size_for(size: Optional[int], factor: int) -> int:
    """The chip side: a multiple of the factor, so chips hold whole coarse cells."""
    if size is None:
        return max(factor, round(PAPER_CHIP_SIZE / factor) * factor)
    if size < factor or size % factor:
        lower, upper = max(factor, size // factor * factor), (size // factor + 1) * factor
        raise Low2HighError(f"chip_size {size} is not a multiple of the factor {factor} (coarse cells of {factor} × "
                            f"{factor} image pixels), so chips would cut cells in two. Use {lower} or {upper}.")
    return size


def _band_names(image: RasterSource, bands: list[int], names: list[str]) -> list[str]:
    if names:
        if len(names) != len(bands):
            raise Low2HighError(f"band_names has {len(names)} names for {len(bands)} bands.")
        return list(names)
    found = []
    for band in bands:
        raster_band = image.dataset.GetRasterBand(band)
        interpretation = raster_band.GetColorInterpretation()
        name = raster_band.GetDescription() or ""
        if not name and interpretation not in (gdal.GCI_Undefined, gdal.GCI_GrayIndex):
            name = gdal.GetColorInterpretationName(interpretation)
        found.append(name.strip().lower() or f"band{band}")
    return found


def _prepare_folder(folder: str, settings: dict[str, Any], progress: Progress) -> None:
    """Create the folder, or check that the dataset in it was built with the same settings."""
    description = os.path.join(folder, DATASET_FILE)
    if os.path.exists(description):
        with open(description, encoding="utf-8") as handle:
            previous = json.load(handle).get("settings")
        if previous != settings:
            changed = sorted(key for key in set(settings) | set(previous or {})
                             if (previous or {}).get(key) != settings.get(key))
            raise Low2HighError(f"'{folder}' holds a dataset built with other settings ({', '.join(changed)}). "
                                "Choose another output folder, or delete that one to rebuild.")
    elif os.path.isdir(folder) and os.listdir(folder):
        raise Low2HighError(f"'{folder}' is not empty and holds no {DATASET_FILE}; choose an empty or new folder.")
    os.makedirs(os.path.join(folder, CHIP_FOLDER), exist_ok=True)
    stale = remove_partial_chips(folder)
    if stale:
        progress.info(f"Removed {stale} unfinished chip file(s) of an interrupted run.")


def _chip_windows(sources: _Sources) -> list[tuple[str, Window]]:
    """Non-overlapping S × S chips from the image's top-left corner (partial edge chips left out)."""
    size, grid = sources.chip_size, sources.image.grid
    return [(chip_id(row, col), Window(col * size, row * size, size, size))
            for row in range(grid.height // size) for col in range(grid.width // size)]


def _label_views(stack: ExitStack, sources: _Sources) -> tuple[RasterSource, RasterSource]:
    """Both label rasters seen on the image grid by nearest neighbour (lazily, in memory)."""
    views = []
    for source, what in zip(sources.labels, ("fine label raster", "coarse label raster")):
        _, nodata = label_type(source)
        views.append(stack.enter_context(nearest_view(source.path, sources.image.grid, nodata, source.nodata[0], what)))
    return views[0], views[1]


def _existing_stats(path: str, progress: Progress) -> Optional[dict[str, np.ndarray]]:
    """The statistics of a chip already written (None when it must be cut)."""
    if not os.path.exists(path):
        return None
    try:
        return load_chip(path, _STAT_KEYS)
    except Exception as error:  # a damaged file (e.g. a disk error): cut the chip again
        progress.warn(f"{os.path.basename(path)} cannot be read ({error}); it is cut again.")
        return None


def _histogram(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels.ravel(), minlength=256)
    return np.append(counts[: len(MERGED_NAMES)], counts[NODATA]).astype(np.int64)


def _cut_chip(sources: _Sources, views: tuple[RasterSource, RasterSource], remappers: tuple[LabelRemapper, ...],
              window: Window, strict: bool, progress: Progress) -> dict[str, np.ndarray]:
    """Every array of one chip (see chip_format); labels are nodata where the image is."""
    image = sources.image
    pixels = image.read(window)
    valid = image.valid_mask(window, pixels)
    kept = pixels[[band - 1 for band in sources.bands]]
    kept[:, ~valid] = 0
    labels = []
    for view, remapper in zip(views, remappers):
        codes, labelled = read_labels(view, window)
        labels.append(remapper.remap(codes, labelled & valid))
        if strict and remapper.unknown:
            remapper.report(strict, progress)
    fine, coarse = labels[0], block_majority(labels[1], sources.factor, NODATA)
    coarse_raw = raw_block_codes(codes, labels[1], sources.factor)
    scaled = kept[:, valid].astype(np.float64) / 255.0
    stats = np.stack([np.full(len(kept), scaled.shape[1], np.float64), scaled.sum(axis=1),
                      (scaled ** 2).sum(axis=1)], 1)
    geotransform = image.grid.subgrid(window).geotransform
    return {"image": kept, "valid": valid, "fine": fine, "coarse": coarse, "coarse_raw": coarse_raw,
            "geotransform": np.array(geotransform, np.float64),
            "crs": np.array(image.grid.crs_wkt), "window": np.array([window.col, window.row, window.width,
                                                                    window.height], np.int64),
            "image_stats": stats, "fine_hist": _histogram(fine), "coarse_hist": _histogram(coarse)}


def raw_block_codes(codes: np.ndarray, merged: np.ndarray, factor: int) -> np.ndarray:
    """The most frequent raw coarse code of each n x n block (uint16; RAW_NODATA where none is labelled).

    Kept beside the merged majority so a loss can use what the code means (e.g. NLCD 21, "developed,
    open space": mostly trees and lawn) rather than its merged class alone.
    """
    raw = np.where(merged == NODATA, RAW_NODATA, codes.astype(np.int64)).astype(np.uint16)
    return block_majority(raw, factor, RAW_NODATA)


def _assign(kept: list[ChipSummary], config: BuildDatasetConfig) -> None:
    """Fill in the split of every chip outside the held-out regions."""
    assignment = assign_splits([item.chip for item in kept if not item.split], config.split_fractions, config.seed)
    for item in kept:
        item.split = item.split or assignment[item.chip]


def _normalisation(train: list[ChipSummary], progress: Progress) -> tuple[Optional[list[float]], Optional[list[float]]]:
    """Per-band mean and standard deviation of pixel / 255 over the train chips' valid pixels."""
    if not train:
        progress.warn("No chip went to the train split, so dataset.json holds no normalisation statistics.")
        return None, None
    total = np.sum([item.image_stats for item in train], axis=0)
    count = np.maximum(total[:, 0], 1)
    mean = total[:, 1] / count
    std = np.sqrt(np.maximum(total[:, 2] / count - mean ** 2, 0))
    return mean.tolist(), std.tolist()


def _index_row(folder: str, item: ChipSummary, sources: _Sources) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = sources.image.grid.window_bounds(item.window)
    row = {"chip": item.chip, "split": item.split, "file": os.path.relpath(chip_path(folder, item.chip), folder),
           "col": item.window.col, "row": item.window.row, "size": item.window.width,
           "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    row.update({f"fine_{name}": int(count) for name, count in zip(HISTOGRAM_NAMES, item.fine_hist)})
    row.update({f"coarse_{name}": int(count) for name, count in zip(HISTOGRAM_NAMES, item.coarse_hist)})
    return row


def _write_description(folder: str, settings: dict[str, Any], sources: _Sources, complete: bool,
                       summary: Optional[DatasetSummary] = None) -> None:
    """dataset.json: what the training module needs to read the chips (written atomically)."""
    grid = sources.image.grid
    description: dict[str, Any] = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "complete": complete, "settings": settings,
        "classes": list(MERGED_NAMES), "nodata": NODATA, "chip_size": sources.chip_size, "factor": sources.factor,
        "coarse_chip_size": sources.chip_size // sources.factor,
        "image": {"path": settings["image"], "crs": grid.crs_wkt, "crs_name": crs_name(grid.crs_wkt),
                  "gsd": ground_sample_distance(grid), "bands": sources.bands, "band_names": sources.band_names},
        "taxonomies": {role: {"name": taxonomy.name, "mapping": {str(code): merged for code, merged in
                                                                   taxonomy.mapping.items()}}
                       for role, taxonomy in (("fine", sources.fine), ("coarse", sources.coarse))},
    }
    if summary is not None:
        description["splits"] = summary.split_counts
        description["dropped"] = summary.dropped
        description["normalisation"] = {"units": "pixel / 255", "computed_on": "train", "mean": summary.mean,
                                        "std": summary.std}
    path = os.path.join(folder, DATASET_FILE)
    atomic_write_json(path, description)
