"""``remap``: turn any class raster into the merged taxonomy (0 water, 1 forest, 2 field, 3 impervious).

The whole operation behind ``low2high:remap``: a lookup table applied window by window (any
raster size, constant memory), source nodata and unknown codes to 255, and a styled Byte GeoTIFF
published only when everything succeeded — in strict mode an unknown code stops the run before
anything is published.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from osgeo import gdal

from ...core.destinations import RASTER_EXTENSIONS, check_destination
from ...core.errors import Low2HighError
from ...core.progress import Progress, SilentProgress, check_canceled
from ..geo.gdal_scope import with_gdal
from ..geo.raster_io import (
    RasterSource,
    atomic_output,
    create_geotiff,
    style_class_raster,
)
from .classes import MERGED_COLOURS, MERGED_NAMES, NODATA
from .rasters import (
    WINDOW_SIZE,
    LabelRemapper,
    count_windows,
    iter_windows,
    read_labels,
    require_integer_labels,
    thousands,
)
from .taxonomy import Taxonomy, check_codes_fit, load_taxonomy


@dataclass
class RemapRequest:
    """Everything ``remap`` needs; the fields mirror the algorithm's parameters."""

    input_path: str
    output_path: str
    taxonomy: str = "nlcd"  # nlcd, chesapeake, enviroatlas, merged or custom
    mapping: str = ""  # custom only: code:class,... or a .json/.csv path
    strict: bool = False  # unknown codes are an error instead of nodata
    band: int = 1
    window_size: int = WINDOW_SIZE


@dataclass
class RemapResult:
    output_path: str
    taxonomy: Taxonomy
    class_counts: np.ndarray  # pixels per merged class (4 entries)
    nodata_pixels: int  # source nodata, ignored classes and unknown codes
    unknown: dict[int, int] = field(default_factory=dict)  # unknown code → pixels

    def class_shares(self) -> dict[str, float]:
        """Share of the classified (not nodata) pixels in each merged class."""
        total = max(int(self.class_counts.sum()), 1)
        return {name: float(count) / total for name, count in zip(MERGED_NAMES, self.class_counts)}


@with_gdal
def remap(request: RemapRequest, progress: Optional[Progress] = None) -> RemapResult:
    """Remap INPUT's class codes to the merged taxonomy into OUTPUT.

    Raises:
        Low2HighError: a clear sentence for any problem the user can fix; nothing is written.
        Cancelled: the user cancelled; nothing is written.
    """
    progress = progress or SilentProgress()
    mapping_file = request.mapping if request.mapping and os.path.isfile(request.mapping) else None
    output = check_destination(request.output_path, "OUTPUT", RASTER_EXTENSIONS,
                               inputs={"INPUT": request.input_path, "MAPPING": mapping_file})
    taxonomy = load_taxonomy(request.taxonomy, request.mapping)
    source = RasterSource.open(request.input_path, "input label raster", require_crs=False)
    require_integer_labels(source, "The input label raster")
    check_codes_fit(taxonomy, source.data_type_name, "the input label raster")
    for note in taxonomy.notes:
        progress.warn(note)
    if not 1 <= request.band <= source.band_count:
        raise Low2HighError(f"The input label raster has no band {request.band} (it has {source.band_count}).")
    if source.band_count > 1:
        progress.warn(f"The input has {source.band_count} bands; only band {request.band} is remapped.")
    grid = source.grid
    progress.info(f"Remapping {grid.width} × {grid.height} pixels of {os.path.basename(request.input_path)} "
                  f"from the {taxonomy.name} taxonomy ({len(taxonomy.classes)} codes) to the merged one.")
    remapper = LabelRemapper(taxonomy, "the input labels")
    with atomic_output(output) as temporary:
        counts = _remap_windows(source, temporary, remapper, request, progress)
        remapper.report(request.strict, progress)
        style_class_raster(temporary, MERGED_NAMES, MERGED_COLOURS, NODATA)
    result = RemapResult(output, taxonomy, counts[: len(MERGED_NAMES)].copy(), int(counts[NODATA]),
                         dict(remapper.unknown))
    shares = ", ".join(f"{name} {share:.1%}" for name, share in result.class_shares().items())
    progress.info(f"Done: {shares}; {thousands(result.nodata_pixels)} pixels are nodata.")
    return result


def _remap_windows(source: RasterSource, path: str, remapper: LabelRemapper, request: RemapRequest,
                   progress: Progress) -> np.ndarray:
    """Write the remapped raster to ``path`` window by window; pixels per output code."""
    grid = source.grid
    counts = np.zeros(256, np.int64)
    total = count_windows(grid.width, grid.height, request.window_size)
    dataset = create_geotiff(path, grid, 1, gdal.GDT_Byte, NODATA)
    try:
        band = dataset.GetRasterBand(1)
        for done, window in enumerate(iter_windows(grid.width, grid.height, request.window_size)):
            check_canceled(progress)
            codes, valid = read_labels(source, window, request.band)
            merged = remapper.remap(codes, valid)
            counts += np.bincount(merged.ravel(), minlength=256)
            band.WriteArray(merged, window.col, window.row)
            progress.set_fraction((done + 1) / total)
    finally:
        band = dataset = None  # closes the file
    return counts
