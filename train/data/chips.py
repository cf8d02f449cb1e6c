"""The on-disk format of a Low2High chip dataset (written by ``build-dataset``, read by training).

A dataset is a folder::

    dataset.json        what was built and how (see ``dataset_builder``): settings, taxonomies, factor n,
                        chip size, band names, per-band mean/std of the train split (pixel / 255 units),
                        chip counts per split; ``"complete": true`` once the build finished
    index.csv           one row per chip: chip, split, file, col, row, size (image pixels), xmin, ymin,
                        xmax, ymax (image CRS), then pixel counts fine_<class> / fine_nodata and block
                        counts coarse_<class> / coarse_nodata
    chips/<chip>.npz    one compressed numpy archive per chip (``np.load``; no pickled objects):
        image          uint8   (bands, S, S)      image pixels; 0 where the image has no data
        valid          bool    (S, S)             where the image has data (GDAL's nodata / mask); older
                                                  chips lack it and readers take "some band above 0"
        fine           uint8   (S, S)             fine labels, merged classes 0–3, 255 = ignore
        coarse         uint8   (S/n, S/n)         coarse labels on the chip's n × n blocks (majority), 255 = ignore
        coarse_raw     uint16  (S/n, S/n)         the raw coarse code (e.g. NLCD 21) of each block (majority of the
                                                  labelled pixels), 65535 = none; older chips lack it
        geotransform   float64 (6,)               GDAL geotransform of the chip's pixels
        crs            str (0-d unicode array)    WKT of the image CRS
        window         int64   (4,)               col, row, width, height in the image
        image_stats    float64 (bands, 3)         count, sum and sum of squares of pixel / 255 over the
                                                  chip's valid pixels (for normalisation statistics)
        fine_hist      int64   (5,)               pixels of water, forest, field, impervious, nodata
        coarse_hist    int64   (5,)               blocks of water, forest, field, impervious, nodata

Chip ids are ``r<row>_c<col>`` in units of chips from the image's top-left corner, so a chip's name
says where it is and never changes between runs. Chips are written to a hidden temporary file and
renamed into place, so a chip file that exists is always complete.
"""
from __future__ import annotations

import csv
import os
import zipfile
import zlib
from typing import Any, Iterator, Sequence

import numpy as np

from ...core.errors import Low2HighError
from ...core.files import PARTIAL_SUFFIX, atomic_path
from ...engine.labels.classes import MERGED_NAMES
from ..runner.records import write_csv_atomically

FORMAT_NAME = "low2high-chips"
FORMAT_VERSION = 1
CHIP_FOLDER = "chips"
INDEX_FILE = "index.csv"
DATASET_FILE = "dataset.json"
HISTOGRAM_NAMES = MERGED_NAMES + ("nodata",)
INDEX_COLUMNS = (("chip", "split", "file", "col", "row", "size", "xmin", "ymin", "xmax", "ymax")
                 + tuple(f"fine_{name}" for name in HISTOGRAM_NAMES)
                 + tuple(f"coarse_{name}" for name in HISTOGRAM_NAMES))
_PARTIAL = PARTIAL_SUFFIX
RAW_NODATA = 65535
"""``coarse_raw``'s value for a block without a labelled coarse pixel."""


def chip_id(row: int, col: int) -> str:
    return f"r{row:05d}_c{col:05d}"


def chip_path(folder: str, chip: str) -> str:
    return os.path.join(folder, CHIP_FOLDER, f"{chip}.npz")


def write_chip(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write one chip archive atomically: the final name only ever holds a whole chip."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def remove_partial_chips(folder: str) -> int:
    """Delete temporary chip files a killed run left behind; returns how many."""
    chips = os.path.join(folder, CHIP_FOLDER)
    if not os.path.isdir(chips):
        return 0
    stale = [name for name in os.listdir(chips) if name.startswith(".") and name.endswith(_PARTIAL)]
    for name in stale:
        os.remove(os.path.join(chips, name))
    return len(stale)


#: What to do about a damaged dataset file: the builder rewrites what is missing and skips what exists.
REBUILD_ADVICE = "run the same build-dataset command again to rewrite it"


def load_chip(path: str, keys: Sequence[str] = (), optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """A chip's arrays (all of them, or only ``keys``: the archive decompresses only those).

    Keys in ``optional`` are left out when the chip has none (chips written by an older version).

    Raises:
        Low2HighError: the chip file is missing, truncated, or not a chip archive.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in (keys or archive.files)
                    if key not in optional or key in archive.files}
    except FileNotFoundError:
        raise Low2HighError(f"The chip file '{path}' of the dataset is missing; run the same build-dataset command "
                            "again to rewrite it.") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise Low2HighError(f"The chip file '{path}' is damaged ({type(error).__name__}: {error}); "
                            f"{REBUILD_ADVICE}.") from None


def write_index(path: str, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``index.csv`` (atomically, like the chips)."""
    write_csv_atomically(path, INDEX_COLUMNS, rows)


def read_index(folder: str) -> Iterator[dict[str, Any]]:
    """The rows of a dataset's ``index.csv``, numbers as numbers and ``path`` added.

    Raises:
        Low2HighError: the index is not UTF-8 text, lacks columns, or has a row that does not parse
            (a truncated or overwritten file), naming the line.
    """
    path = os.path.join(folder, INDEX_FILE)
    line = 1
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [key for key in INDEX_COLUMNS if key not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"no column {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
            for row in reader:
                line = reader.line_num
                record: dict[str, Any] = dict(row)
                for key in INDEX_COLUMNS[3:]:
                    record[key] = float(row[key]) if key in ("xmin", "ymin", "xmax", "ymax") else int(row[key])
                if not row["file"]:
                    raise ValueError("no chip file")
                record["path"] = os.path.join(folder, row["file"])
                yield record
    except (UnicodeDecodeError, csv.Error, ValueError, TypeError) as error:
        raise Low2HighError(f"The dataset index '{path}' is damaged (line {line}: {error}); {REBUILD_ADVICE}.") \
            from None
    except OSError as error:
        raise Low2HighError(f"The dataset index '{path}' cannot be read ({error.strerror}); {REBUILD_ADVICE}.") \
            from None


def upsample_labels(coarse: np.ndarray, factor: int) -> np.ndarray:
    """Coarse labels (..., h, w) repeated to (..., h * n, w * n): the naive 'upsampled' labels."""
    return np.repeat(np.repeat(coarse, factor, axis=-2), factor, axis=-1)
