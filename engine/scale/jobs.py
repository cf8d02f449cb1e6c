"""What a segment-many job is made of: its settings, one raster's task, one raster's outcome.

Plain dataclasses of strings and numbers, because tasks travel to worker processes (pickled by
Dask) and outcomes are written to the manifest and the summary table.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from ..inference.segment import SegmentRequest

#: Statuses of a raster in the manifest and the summary.
DONE, FAILED, BAD_INPUT, PENDING = "done", "failed", "bad input", "pending"


@dataclass(frozen=True)
class MapSettings:
    """Every setting that shapes a map; a job folder's maps all share one set (the manifest checks it)."""

    model_path: str = ""  # empty: the bundled demo model
    device: str = "auto"
    precision: str = "auto"
    input_statistics: str = "auto"
    tile_size: Optional[int] = None
    overlap: Optional[int] = None
    batch_size: Optional[int] = None
    bands: Optional[tuple[int, ...]] = None
    min_mapping_unit: Optional[float] = None  # m² (None: the model's)
    window: int = 16384  # rasters wider or taller than this many pixels are mapped as windows of this side
    colour_refinement: str = "auto"  # auto (the model card's), on, off

    def shaping(self) -> dict[str, Any]:
        """The settings the manifest compares (the model is compared by its digest, not its path)."""
        values = asdict(self)
        values.pop("model_path")
        values["bands"] = list(self.bands) if self.bands else None
        return values

    def request(self, input_path: str, output_path: str) -> SegmentRequest:
        """The request ``segment`` gets for one raster: the same as a user's single run with these settings."""
        return SegmentRequest(input_path=input_path, output_path=output_path, model_path=self.model_path,
                              tile_size=self.tile_size, overlap=self.overlap, batch_size=self.batch_size,
                              device=self.device, precision=self.precision, input_statistics=self.input_statistics,
                              bands=list(self.bands) if self.bands else None,
                              min_mapping_unit=self.min_mapping_unit, colour_refinement=self.colour_refinement)


@dataclass(frozen=True)
class RasterTask:
    """One raster to map: its input, its map, and the input's size and time (the manifest's identity)."""

    stem: str
    input_path: str
    output_path: str
    size: int
    mtime_ns: int
    pixels: int
    width: int = 0
    height: int = 0
    window: Optional[tuple[int, int, int, int]] = None  # col, row, width, height: one window of a split raster
    parent: str = ""  # the split raster's stem (a window's task)


@dataclass
class Outcome:
    """What became of one raster (a manifest entry and a row of the summary)."""

    stem: str
    input_path: str
    status: str
    output: str = ""  # the map's file name in the output folder ("" when none)
    pixels: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker process's CPU time while it mapped this raster (all its threads)
    shares: dict[str, float] = field(default_factory=dict)
    message: str = ""
    precision: str = ""
    size: int = 0
    mtime_ns: int = 0
    worker: str = ""
    started: float = 0.0  # when the worker began and finished it (seconds since the epoch)
    finished: float = 0.0
    parent: str = ""  # the split raster's stem (a window's outcome)

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Outcome":
        known = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        return cls(**known)


def output_name(stem: str) -> str:
    """The map of input ``<stem>.<ext>`` is ``<stem>.tif`` in the output folder."""
    return stem + ".tif"


def map_files(stem: str) -> list[str]:
    """Every name a raster's map may take: the GeoTIFF with GDAL's sidecar (class names) and the QGIS style,
    or, for a raster mapped in windows, its VRT and the folder of its windows."""
    return [output_name(stem), output_name(stem) + ".aux.xml", stem + ".qml", stem + ".vrt", stem + ".windows"]


def stem_of(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]
