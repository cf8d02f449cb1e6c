"""The rasters of a job: patterns, folders and list files expanded, and every bad one named.

A state's worth of quarter quads always holds a few files that cannot be mapped: a missing one, a
sidecar that is not a raster, a panchromatic scene, two quads with the same name in two folders.
Each is found here, before any worker starts, and becomes a summary row with one sentence, so
the job maps all the others (``--strict`` stops at the first instead).
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ...core.errors import Low2HighError
from ...core.progress import SilentProgress
from ..geo.raster_io import RasterSource
from ..inference.bands import choose_bands
from ..inference.model_info import ModelInfo
from .jobs import BAD_INPUT, Outcome, RasterTask, output_name, stem_of

#: What a folder given as input contributes: its GeoTIFFs.
RASTER_PATTERNS = ("*.tif", "*.tiff", "*.TIF", "*.TIFF")
#: Files read as lists of inputs, one path per line (relative paths from the list's folder).
LIST_EXTENSIONS = (".txt", ".lst", ".list")


@dataclass
class Plan:
    """The rasters to map and the inputs refused, in the order given."""

    tasks: list[RasterTask] = field(default_factory=list)
    refused: list[Outcome] = field(default_factory=list)
    order: list[str] = field(default_factory=list)  # every input's absolute path, in the order given


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Every path the user named: glob patterns expanded (sorted), folders' GeoTIFFs, list files read.

    A literal path is kept even when missing, so that it is reported rather than forgotten.

    Raises:
        Low2HighError: nothing was named, or a pattern matched nothing at all.
    """
    paths: list[str] = []
    for item in inputs:
        item = os.path.expanduser(item.strip())
        if not item:
            continue
        if os.path.isdir(item):
            found = sorted({path for pattern in RASTER_PATTERNS for path in glob.glob(os.path.join(item, pattern))})
            paths += found
        elif os.path.isfile(item) and item.lower().endswith(LIST_EXTENSIONS):
            paths += _read_list(item)
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise Low2HighError(f"No file matches the input pattern '{item}'; check the folder and the pattern "
                                    "(quote it so that the shell does not expand it).")
            paths += matches
        else:
            paths.append(item)
    if not paths:
        raise Low2HighError("No input rasters were given; name rasters, a folder, a pattern such as 'naip/*.tif', "
                            "or a text file listing one raster per line.")
    return paths


def _read_list(path: str) -> list[str]:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8-sig") as stream:
            lines = [line.strip() for line in stream]
    except (OSError, UnicodeDecodeError) as error:
        raise Low2HighError(f"The input list '{path}' cannot be read as text ({error}); give one raster path per "
                            "line.") from error
    return [os.path.join(folder, os.path.expanduser(line)) for line in lines if line and not line.startswith("#")]


def plan_rasters(paths: Sequence[str], output_dir: str, model: ModelInfo,
                 bands: Optional[Sequence[int]] = None) -> Plan:
    """Check every input against the model and give each a map in ``output_dir`` (see the module)."""
    plan = Plan()
    owners: dict[str, str] = {}  # lower-case stem → the input that maps to it
    for given in paths:
        path = os.path.abspath(given)
        stem = stem_of(path)
        plan.order.append(path)
        problem = _problem(path, model, bands)
        if problem is None and stem.lower() in owners:
            problem = (f"another input, '{owners[stem.lower()]}', has the same name, and both maps would be "
                       f"'{output_name(stem)}'; rename one of them")
        if problem is not None:
            plan.refused.append(Outcome(stem, path, BAD_INPUT, message=problem))
            continue
        owners[stem.lower()] = path
        status = os.stat(path)
        source = RasterSource.open(path)
        width, height = source.grid.width, source.grid.height
        plan.tasks.append(RasterTask(stem, path, os.path.join(output_dir, output_name(stem)), status.st_size,
                                     status.st_mtime_ns, width * height, width, height))
    return plan


def _problem(path: str, model: ModelInfo, bands: Optional[Sequence[int]]) -> Optional[str]:
    """Why ``path`` cannot be mapped (a sentence without a final full stop), or None."""
    if not os.path.exists(path):
        return "the file does not exist"
    if not os.path.isfile(path):
        return "it is not a file"
    try:
        source = RasterSource.open(path)
        choose_bands(source.band_count, model, bands, SilentProgress())
    except Low2HighError as error:
        return str(error).rstrip(".")
    if source.data_type_name != "Byte":
        return f"it holds {source.data_type_name} values and the model expects 8-bit imagery (0–255)"
    return None
