"""Coarse priors: what each raw coarse code means in fine classes, p(merged class | code).

The paper's Table S1 maps NLCD's developed classes (21–24) to impervious, yet under them the real
1 m labels of ../shared/data/chesapeake_pg_county are mostly trees and lawn (21: 48 % tree, 41 %
low vegetation, 11 % impervious). A loss that takes the merged label at face value teaches
"suburb → impervious". Label super-resolution (Malkin et al., ICLR 2019) instead matches each
block's predicted class distribution with its code's distribution, counted wherever fine and
coarse labels overlap (the same kind of unpaired high-resolution data the exemplars are).

A prior file is readable JSON::

    {"format": "low2high-coarse-prior", "classes": ["water", "forest", "field", "impervious"],
     "source": "...", "codes": {"21": {"p": [0.0, 0.48, 0.41, 0.11], "pixels": [0, 4800, 4100, 1100]}, ...}}

A hand-written table may give each code's ``p`` alone, or a bare list. Rows that do not sum to 1
are normalised (with a warning); negative or non-finite entries are refused; codes of the data
that the table lacks are ignored by the loss (with a warning that counts their blocks).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ...core.errors import Low2HighError
from ...core.files import atomic_write_json
from ...core.progress import Progress, SilentProgress
from ...engine.labels.classes import MERGED_NAMES, NODATA
from .chips import RAW_NODATA

PRIOR_FORMAT = "low2high-coarse-prior"
SUM_TOLERANCE = 1e-3
"""A row whose entries sum to 1 within this is taken as it is; others are normalised with a warning."""
ROWS_PER_READ = 512


@dataclass
class CoarsePrior:
    """p(merged class | raw coarse code) for the codes it knows.

    Attributes:
        classes: Names of the merged classes (column order).
        rows: Code → probabilities (sum 1).
        pixels: Code → fine pixels counted per class (empty for hand-written tables).
        source: Where the counts came from.
    """

    classes: list[str]
    rows: dict[int, list[float]]
    pixels: dict[int, list[int]] = field(default_factory=dict)
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        codes = {}
        for code in sorted(self.rows):
            entry: dict[str, Any] = {"p": [round(value, 6) for value in self.rows[code]]}
            if code in self.pixels:
                entry["pixels"] = self.pixels[code]
            codes[str(code)] = entry
        return {"format": PRIOR_FORMAT, "classes": self.classes, "source": self.source, "codes": codes}

    def table(self, size: int = RAW_NODATA + 1) -> np.ndarray:
        """``(size, K)`` float32 lookup of target distributions; NaN rows for codes the prior lacks."""
        lookup = np.full((size, len(self.classes)), np.nan, np.float32)
        for code, row in self.rows.items():
            if 0 <= code < size:
                lookup[code] = row
        return lookup

    def describe(self) -> str:
        lines = [f"p(class | code) over {', '.join(self.classes)}" + (f" ({self.source})" if self.source else "")]
        for code in sorted(self.rows):
            total = sum(self.pixels.get(code, []))
            counted = f"  ({total} px)" if total else ""
            lines.append(f"  {code:>5}: " + "  ".join(f"{value:6.1%}" for value in self.rows[code]) + counted)
        return "\n".join(lines)


def _row(code: str, entry: Any, classes: int, where: str) -> tuple[list[float], Optional[list[int]]]:
    values = entry.get("p") if isinstance(entry, dict) else entry
    if not isinstance(values, list) or len(values) != classes:
        raise Low2HighError(f"{where}: code {code} needs a list of {classes} probabilities (one per class).")
    try:
        numbers = [float(value) for value in values]
    except (TypeError, ValueError):
        raise Low2HighError(f"{where}: code {code} holds a value that is not a number: {values}.") from None
    if any(not math.isfinite(value) for value in numbers):
        raise Low2HighError(f"{where}: code {code} holds a value that is not finite: {values}.")
    if any(value < 0 for value in numbers):
        raise Low2HighError(f"{where}: code {code} holds a negative probability ({values}); probabilities must be "
                            "0 or more.")
    if sum(numbers) <= 0:
        raise Low2HighError(f"{where}: code {code} has only zeros; give it at least one positive entry.")
    pixels = entry.get("pixels") if isinstance(entry, dict) else None
    return numbers, [int(value) for value in pixels] if isinstance(pixels, list) else None


def parse_prior(data: Any, where: str, progress: Optional[Progress] = None) -> CoarsePrior:
    """A prior from its JSON form (see the module docstring); ``where`` names it in messages."""
    progress = progress or SilentProgress()
    if not isinstance(data, dict) or not isinstance(data.get("codes"), dict) or not data["codes"]:
        raise Low2HighError(f"{where} is not a coarse prior: it needs a 'codes' mapping of code → probabilities.")
    classes = data.get("classes", list(MERGED_NAMES))
    if list(classes) != list(MERGED_NAMES):
        raise Low2HighError(f"{where} is over the classes {classes}; the models predict {list(MERGED_NAMES)}.")
    rows: dict[int, list[float]] = {}
    pixels: dict[int, list[int]] = {}
    unnormalised = []
    for text, entry in data["codes"].items():
        try:
            code = int(text)
        except ValueError:
            raise Low2HighError(f"{where}: '{text}' is not a whole-number coarse code.") from None
        if not 0 <= code < RAW_NODATA:
            raise Low2HighError(f"{where}: code {code} is outside 0–{RAW_NODATA - 1}.")
        numbers, counted = _row(text, entry, len(classes), where)
        total = sum(numbers)
        if abs(total - 1) > SUM_TOLERANCE:
            unnormalised.append(f"{code} ({total:g})")
        rows[code] = [value / total for value in numbers]
        if counted is not None:
            pixels[code] = counted
    if unnormalised:
        progress.warn(f"{where}: the rows of code(s) {', '.join(unnormalised)} do not sum to 1; they were divided by "
                      "their sums.")
    return CoarsePrior(list(classes), rows, pixels, str(data.get("source", "")))


def read_prior(path: str, progress: Optional[Progress] = None) -> CoarsePrior:
    """Read and check a prior file (see :func:`parse_prior`)."""
    if not os.path.isfile(path):
        raise Low2HighError(f"The coarse prior '{path}' does not exist; make one with `coarse-prior`.")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Low2HighError(f"The coarse prior '{path}' is not readable JSON ({error}).") from None
    return parse_prior(data, f"The coarse prior '{path}'", progress)


def write_prior(path: str, prior: CoarsePrior) -> None:
    atomic_write_json(path, prior.to_json())


def missing_codes(prior: CoarsePrior, codes: np.ndarray) -> dict[int, int]:
    """Blocks per raw code of ``codes`` that the prior lacks (RAW_NODATA not counted)."""
    values, counts = np.unique(codes[codes != RAW_NODATA], return_counts=True)
    return {int(code): int(count) for code, count in zip(values, counts) if int(code) not in prior.rows}


def count_prior(fine_labels: str, coarse_labels: str, fine_taxonomy: str = "chesapeake",
                coarse_taxonomy: str = "nlcd", fine_mapping: str = "", coarse_mapping: str = "", region: str = "",
                progress: Optional[Progress] = None, fill_missing: bool = False) -> CoarsePrior:
    """Count p(merged fine class | raw coarse code) over the pixels where both rasters are labelled.

    The coarse raster is seen on the fine raster's grid by nearest neighbour (any CRS).

    Args:
        fine_labels, coarse_labels: Label rasters.
        fine_taxonomy, coarse_taxonomy, fine_mapping, coarse_mapping: Their taxonomies (as ``build-dataset``).
        region: Count only inside 'XMIN,YMIN,XMAX,YMAX' (fine raster CRS) or 'pixels:COL,ROW,WIDTH,HEIGHT'.
        fill_missing: Give every labelled code of the coarse taxonomy that the area lacks its merged
            class as a one-hot row (0 pixels counted), so its blocks still teach what the taxonomy
            says (e.g. NLCD 11 → water where the counted area has no open water).

    Raises:
        Low2HighError: rasters that do not overlap, or no pixel labelled in both.
    """
    from ...engine.geo.grid import Window
    from ...engine.geo.raster_io import RasterSource
    from ...engine.geo.views import check_overlap, nearest_view
    from ...engine.labels.alignment import label_type
    from ...engine.labels.rasters import (
        LabelRemapper,
        read_labels,
        require_integer_labels,
        require_single_band,
    )
    from ...engine.labels.taxonomy import load_taxonomy
    from .splits import parse_regions

    progress = progress or SilentProgress()
    fine = RasterSource.open(fine_labels, "fine label raster")
    coarse = RasterSource.open(coarse_labels, "coarse label raster")
    for source, what in ((fine, "fine label raster"), (coarse, "coarse label raster")):
        require_integer_labels(source, f"The {what}")
        require_single_band(source, f"The {what}")
    check_overlap(coarse.grid, fine.grid, "The coarse label raster", "the fine label raster")
    area = parse_regions(f"prior:{region}", fine.grid)[0].window if region else fine.grid.full_window
    remappers = (LabelRemapper(load_taxonomy(fine_taxonomy, fine_mapping), "the fine labels"),
                 LabelRemapper(load_taxonomy(coarse_taxonomy, coarse_mapping), "the coarse labels"))
    classes = len(MERGED_NAMES)
    counts = np.zeros((RAW_NODATA + 1) * classes, np.int64)
    _, nodata = label_type(coarse)
    with nearest_view(coarse_labels, fine.grid, nodata, coarse.nodata[0], "coarse label raster") as view:
        for top in range(area.row, area.row + area.height, ROWS_PER_READ):
            window = Window(area.col, top, area.width, min(ROWS_PER_READ, area.row + area.height - top))
            fine_codes, fine_valid = read_labels(fine, window)
            coarse_codes, coarse_valid = read_labels(view, window)
            merged_fine = remappers[0].remap(fine_codes, fine_valid)
            merged_coarse = remappers[1].remap(coarse_codes, coarse_valid)
            both = (merged_fine != NODATA) & (merged_coarse != NODATA)
            keys = coarse_codes[both].astype(np.int64) * classes + merged_fine[both]
            counts += np.bincount(keys, minlength=counts.size)[: counts.size]
    for remapper in remappers:
        remapper.report(False, progress)
    table = counts.reshape(-1, classes)
    found = np.flatnonzero(table.sum(axis=1))
    if not found.size:
        raise Low2HighError("No pixel is labelled in both rasters (inside the region); a prior needs fine and coarse "
                            "labels of the same place.")
    _warn_thin_rows(table, found, _cell_pixels(fine.grid, coarse.grid), progress)
    rows = {int(code): (table[code] / table[code].sum()).tolist() for code in found}
    pixels = {int(code): table[code].tolist() for code in found}
    origin = (f"{os.path.basename(fine_labels)} ({fine_taxonomy}) under {os.path.basename(coarse_labels)} "
              f"({coarse_taxonomy})" + (f", region {region}" if region else ""))
    prior = CoarsePrior(list(MERGED_NAMES), rows, pixels, origin)
    return fill_from_taxonomy(prior, remappers[1].taxonomy.mapping, progress) if fill_missing else prior


def _cell_pixels(fine: Any, coarse: Any) -> float:
    """Fine pixels in one coarse cell (900 for 30 m NLCD over 1 m labels)."""
    from ...engine.geo.resample import ground_sample_distance

    return max(1.0, (ground_sample_distance(coarse) / ground_sample_distance(fine)) ** 2)


def _warn_thin_rows(table: np.ndarray, found: np.ndarray, cell_pixels: float, progress: Progress) -> None:
    """Warn about codes counted on less than one whole coarse cell: such a row is a few pixels' accident.

    A 4-band image taken for labels once gave "41 forest → 100 % impervious" from 2 pixels; a row
    that does not cover a single cell of its own code says nothing about what the code means.
    """
    thin = [f"{int(code)} ({int(table[code].sum())} px)" for code in found if table[code].sum() < cell_pixels]
    if thin:
        progress.warn(f"Code(s) {', '.join(thin)} were counted on less than one coarse cell ({cell_pixels:,.0f} fine "
                      "pixels), so their rows are unreliable; count over a larger --region, or check that "
                      "--fine-labels and --coarse-labels are the label rasters of the same place.")


def fill_from_taxonomy(prior: CoarsePrior, mapping: dict[int, int], progress: Progress) -> CoarsePrior:
    """The prior with a one-hot row of its merged class for every labelled code it lacks."""
    added = {code: [float(index == merged) for index in range(len(prior.classes))]
             for code, merged in mapping.items() if merged != NODATA and code not in prior.rows}
    if added:
        progress.info(f"Codes not seen where the prior was counted take their taxonomy's class: "
                      f"{', '.join(f'{code} → {prior.classes[mapping[code]]}' for code in sorted(added))}.")
    source = prior.source + (f"; taxonomy classes for unseen codes {', '.join(map(str, sorted(added)))}"
                             if added else "")
    return CoarsePrior(prior.classes, {**prior.rows, **added},
                       {**prior.pixels, **{code: [0] * len(prior.classes) for code in added}}, source)
