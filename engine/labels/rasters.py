"""Class rasters as the label tools read them: whole-number codes, window by window, remapped.

Remapping, evaluation, alignment and the dataset builder all stream label rasters of any size
in windows and translate source codes to merged classes; the shared pieces live here so each
tool says the same thing about the same mistake (float labels, codes a taxonomy does not list).
"""
from __future__ import annotations

from collections import Counter
from typing import Iterator, Optional

import numpy as np

from ...core.errors import Low2HighError
from ...core.progress import Progress
from ..geo.grid import Window
from ..geo.raster_io import RasterSource
from .classes import NODATA
from .taxonomy import Taxonomy

#: Side of the square windows label rasters are streamed in: 4 Mpx, a few tens of MB of arrays.
WINDOW_SIZE = 2048
#: GDAL data types that cannot hold class codes.
NON_INTEGER_TYPES = ("Float32", "Float64", "CInt16", "CInt32", "CFloat32", "CFloat64")
#: How many unknown codes a message lists before summing up the rest.
_LISTED_CODES = 12
#: Largest dense lookup table (entries): enough for every Byte and UInt16 code; wider codes are
#: looked up by sorted search, so memory never grows with the largest code a taxonomy lists.
DENSE_TABLE_LIMIT = 65536


def iter_windows(width: int, height: int, size: int = WINDOW_SIZE) -> Iterator[Window]:
    """Windows of at most ``size`` × ``size`` covering a raster, row by row."""
    for row in range(0, height, size):
        for col in range(0, width, size):
            yield Window(col, row, min(size, width - col), min(size, height - row))


def count_windows(width: int, height: int, size: int = WINDOW_SIZE) -> int:
    return -(-width // size) * -(-height // size)


def require_integer_labels(source: RasterSource, what: str) -> None:
    """Refuse a label raster whose pixels are not whole-number class codes."""
    if source.data_type_name in NON_INTEGER_TYPES:
        raise Low2HighError(
            f"{what} holds {source.data_type_name} values, but a class raster must hold whole-number class codes "
            f"(Byte, UInt16, Int16, …). If its values are whole numbers, convert it first (Raster ▸ Conversion ▸ "
            "Translate, output data type Byte); if it is a continuous raster (imagery, probabilities), it is the wrong "
            "layer.")


def require_single_band(source: RasterSource, what: str) -> None:
    """Refuse a label raster with several bands: imagery or probabilities given where class codes belong.

    An image's first band read as codes gives nonsense that looks like a result (a prior "counted"
    on the few pixels whose brightness happens to be a known code), so it is refused up front.
    """
    if source.band_count > 1:
        raise Low2HighError(f"{what} has {source.band_count} bands, but a class raster has one band of class codes "
                            "(several bands suggest imagery or probabilities). Choose the land-cover raster, or "
                            "extract its class band first (Raster ▸ Conversion ▸ Translate, one band).")


def thousands(count: int) -> str:
    return f"{count:,}"


def read_labels(source: RasterSource, window: Window, band: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Codes of one band in ``window`` and where they hold data (the raster's nodata/mask)."""
    codes = source.read(window, [band])[0]
    if source.band_count == 1:
        valid = source.valid_mask(window, codes[None])
    else:
        valid = _band_valid(source, band, window, codes)
    return codes, valid


def _band_valid(source: RasterSource, band: int, window: Window, codes: np.ndarray) -> np.ndarray:
    nodata = source.nodata[band - 1]
    return np.ones(codes.shape, bool) if nodata is None else codes != nodata


class LabelRemapper:
    """Translates source codes to merged classes through a lookup table, counting unknown codes.

    Codes the taxonomy does not list become 255 and are counted per code, so one message at the
    end can say exactly what was dropped (rather than one warning per window).
    """

    def __init__(self, taxonomy: Taxonomy, what: str = "the labels") -> None:
        self.taxonomy = taxonomy
        self.what = what
        self.unknown: Counter = Counter()
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _tables_for(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        size = {np.dtype(np.uint8): 256, np.dtype(np.uint16): 65536}.get(np.dtype(dtype), 0)
        size = min(max(size, self.taxonomy.max_code + 1, 256), DENSE_TABLE_LIMIT)
        if size not in self._tables:
            table, known = np.full(size, NODATA, np.uint8), np.zeros(size, bool)
            for item in self.taxonomy.classes:
                if item.code < size:  # wider codes cannot occur in codes this table serves
                    table[item.code], known[item.code] = item.merged, True
            self._tables[size] = (table, known)
        return self._tables[size]

    def _sparse(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(merged, known) of wide codes by sorted search: memory of the window, not of the largest code."""
        keys = np.array(self.taxonomy.codes, np.int64)  # sorted (the taxonomy keeps its classes by code)
        values = np.array([item.merged for item in self.taxonomy.classes], np.uint8)
        wide = codes.astype(np.int64, copy=False) if codes.dtype != np.uint64 else codes
        position = np.minimum(np.searchsorted(keys, wide), len(keys) - 1)
        known = keys[position] == wide
        return np.where(known, values[position], NODATA).astype(np.uint8), known

    def remap(self, codes: np.ndarray, valid: Optional[np.ndarray] = None) -> np.ndarray:
        """Merged classes (uint8, 255 where ``valid`` is False or the code is unknown)."""
        if self.taxonomy.max_code >= DENSE_TABLE_LIMIT and codes.dtype not in (np.uint8, np.uint16):
            merged, known = self._sparse(codes)
            return self._finish(codes, merged, known, valid)
        lut, known_table = self._tables_for(codes.dtype)
        if codes.dtype in (np.uint8, np.uint16) and lut.size > int(np.iinfo(codes.dtype).max):
            index, inside = codes, None
        else:
            inside = (codes >= 0) & (codes < lut.size)
            index = np.where(inside, codes, 0)
        known = known_table[index] if inside is None else known_table[index] & inside
        return self._finish(codes, lut[index], known, valid)

    def _finish(self, codes: np.ndarray, merged: np.ndarray, known: np.ndarray,
                valid: Optional[np.ndarray]) -> np.ndarray:
        """Nodata where ``valid`` is False; unknown codes to nodata and counted."""
        if valid is not None:
            merged = np.where(valid, merged, NODATA).astype(np.uint8, copy=False)
        unknown = ~known if valid is None else valid & ~known
        if unknown.any():
            merged[unknown] = NODATA
            values, counts = np.unique(codes[unknown], return_counts=True)
            self.unknown.update(dict(zip(values.tolist(), counts.tolist())))
        return merged

    @property
    def unknown_pixels(self) -> int:
        return int(sum(self.unknown.values()))

    def _listed(self, unit: str = "") -> str:
        codes = sorted(self.unknown)
        parts = [f"{code} ({thousands(self.unknown[code])}{unit})" for code in codes[:_LISTED_CODES]]
        if len(codes) > _LISTED_CODES:
            rest = sum(self.unknown[code] for code in codes[_LISTED_CODES:])
            parts.append(f"and {len(codes) - _LISTED_CODES} more codes ({thousands(rest)}{unit})")
        return ", ".join(parts)

    def report(self, strict: bool, progress: Progress) -> None:
        """Warn once about unknown codes, or refuse them in strict mode."""
        if not self.unknown:
            return
        name = self.taxonomy.name
        if strict:
            raise Low2HighError(
                f"{self.what[:1].upper()}{self.what[1:]} hold codes that are not in the {name} taxonomy: "
                f"{self._listed(' pixels')}. Choose the right taxonomy, add the codes to a custom MAPPING, "
                "or turn strict mode off to set them to nodata.")
        noun = "code" if len(self.unknown) == 1 else "codes"
        progress.warn(f"{thousands(self.unknown_pixels)} pixels with {noun} {self._listed()} are not in the {name} "
                      "taxonomy and were set to nodata.")
