"""Label taxonomies: which source class code becomes which merged Low2High class.

A taxonomy is data, not code: the built-in ones (NLCD, Chesapeake, EnviroAtlas — the paper's
Table S1) live in ``resources/taxonomies/*.json`` so they can be read, cited and checked without
reading Python. A user's own taxonomy (``custom``) comes from a ``code:class`` list, a JSON file
in the same format (or a flat ``{"code": class}`` mapping) or a CSV file. Remapping is then a
lookup table indexed by the source codes (``lut[labels]``), the cheapest per-pixel operation
there is.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from ...core.errors import Low2HighError
from ...core.resources import resource_path
from .classes import MERGED_NAMES, NODATA

TAXONOMY_FOLDER = resource_path("taxonomies")
#: The taxonomies that ship with Low2High (the values of the TAXONOMY parameter, except custom).
BUILT_IN = ("nlcd", "chesapeake", "enviroatlas")
#: Words a user may write for the ignore class.
IGNORE_WORDS = ("ignore", "nodata", "no data", "none")
_DEFAULT_COLOUR = (128, 128, 128)


@dataclass(frozen=True)
class SourceClass:
    """One class of a source taxonomy and the merged class it becomes (255: ignored)."""

    code: int
    name: str
    merged: int
    colour: tuple[int, int, int] = _DEFAULT_COLOUR


@dataclass(frozen=True)
class Taxonomy:
    """A source taxonomy: its classes, sorted by code, each with its merged class."""

    name: str
    classes: tuple[SourceClass, ...]
    source: str = ""
    notes: tuple[str, ...] = ()  # warnings about how the table was read (e.g. its text encoding)

    @property
    def mapping(self) -> dict[int, int]:
        """Source code → merged class (255 for ignored codes)."""
        return {item.code: item.merged for item in self.classes}

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(item.code for item in self.classes)

    @property
    def max_code(self) -> int:
        return max(self.codes)

    def lookup_table(self, size: int = 256) -> np.ndarray:
        """``lut[code]`` is the merged class of ``code``; codes not in the taxonomy give 255.

        Args:
            size: number of entries: 256 for Byte labels, 65536 for UInt16; at least
                ``max_code + 1`` (a smaller table would silently drop classes).
        """
        if size <= self.max_code:
            raise ValueError(f"a lookup table of {size} entries cannot hold code {self.max_code}")
        table = np.full(size, NODATA, np.uint8)
        for item in self.classes:
            table[item.code] = item.merged
        return table

    def known_table(self, size: int = 256) -> np.ndarray:
        """``known[code]`` is True for the codes the taxonomy lists (ignored ones included)."""
        table = np.zeros(size, bool)
        table[list(self.codes)] = True
        return table


#: The largest code a class raster can hold (GDAL's widest integer type, Int64/UInt64, as int64).
LARGEST_CODE = 2 ** 63 - 1
#: Code ranges of GDAL's integer data types: a taxonomy code outside them never occurs in such a raster.
DATA_TYPE_RANGES = {"Byte": (0, 255), "Int8": (-128, 127), "UInt16": (0, 65535), "Int16": (-32768, 32767),
                    "UInt32": (0, 2 ** 32 - 1), "Int32": (-2 ** 31, 2 ** 31 - 1), "UInt64": (0, 2 ** 64 - 1),
                    "Int64": (-2 ** 63, 2 ** 63 - 1)}


def check_codes_fit(taxonomy: "Taxonomy", data_type: str, what: str) -> None:
    """Refuse a taxonomy listing codes that a raster of ``data_type`` cannot hold.

    Such a code can never match a pixel, so it is a mistake in the table (a typo, a missing
    separator) or the wrong raster; refusing it at once also means no lookup table is ever sized
    by a code like 99999999999.

    Raises:
        Low2HighError: naming the codes, the data type and its range.
    """
    if data_type not in DATA_TYPE_RANGES:
        return
    low, high = DATA_TYPE_RANGES[data_type]
    outside = [code for code in taxonomy.codes if not low <= code <= high]
    if outside:
        listed = ", ".join(str(code) for code in outside[:5]) + (" ..." if len(outside) > 5 else "")
        raise Low2HighError(f"The {taxonomy.name} taxonomy gives code(s) {listed}, which {what} ({data_type}, codes "
                            f"{low}–{high}) can never hold; correct those codes in MAPPING, or check that this is "
                            "the right raster.")


def read_table_text(path: str) -> tuple[str, tuple[str, ...]]:
    """A table file's text: UTF-8 (with or without BOM), else Windows-1252 / Latin-1 with a note.

    Excel and older tools save CSV in the system's 8-bit encoding ("Forêt" as byte 0xEA); the codes
    and merged classes are ASCII either way, so only the names can differ, and a note says so.

    Raises:
        Low2HighError: the file cannot be read at all.
    """
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise Low2HighError(f"The MAPPING file '{path}' cannot be read ({error.strerror}); check the path and its "
                            "permissions.") from error
    unicode = _decode_wide_unicode(data)
    if unicode is not None:
        return unicode, ()
    if _looks_binary(data):
        raise Low2HighError(f"The MAPPING file '{name}' is not a text table (it holds binary data, e.g. an image or a "
                            "spreadsheet); save the table as 'CSV UTF-8' and give that file.")
    try:
        return data.decode("utf-8-sig"), ()
    except UnicodeDecodeError as error:
        where = data.count(b"\n", 0, error.start) + 1
        for encoding in ("cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            note = (f"'{name}' is not UTF-8 (byte 0x{data[error.start]:02X} on line {where}); it was read as "
                    f"{'Windows-1252' if encoding == 'cp1252' else 'Latin-1'}. If class names look wrong, save it as "
                    "'CSV UTF-8'.")
            return text, (note,)
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


#: Byte-order marks of the wide encodings Excel's "Unicode text" and Notepad's "Unicode" save in.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode_wide_unicode(data: bytes) -> Optional[str]:
    """The text of a UTF-16/32 file (with a byte-order mark, or UTF-16 without one), else None.

    A table saved as "Unicode text" has a NUL byte beside every ASCII character, which the CSV
    reader otherwise rejects with a bare ``_csv.Error``; its codes and classes are plain text.
    """
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                return None
    if len(data) >= 4 and len(data) % 2 == 0:
        # No mark: UTF-16 of ASCII text puts its NULs on every other byte, all odd (LE) or all even (BE).
        for encoding, nuls in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
            if nuls.count(0) >= 0.9 * len(nuls):
                try:
                    return data.decode(encoding)
                except UnicodeDecodeError:
                    return None
    return None


def _looks_binary(data: bytes) -> bool:
    """Whether bytes are no text table at all: a NUL, or many control characters other than tab and line breaks."""
    if b"\x00" in data:
        return True
    sample = data[:65536]
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13))
    return control > 0.01 * max(len(sample), 1)


def parse_merged_class(text: object) -> Optional[int]:
    """A merged class from an index (0–3), a name (``forest``) or ignore (255, ``ignore``).

    Returns None when ``text`` is none of those, so callers can say where it came from.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if 0 <= text < len(MERGED_NAMES) or text == NODATA else None
    word = str(text).strip().lower()
    if word in MERGED_NAMES:
        return MERGED_NAMES.index(word)
    if word in IGNORE_WORDS:
        return NODATA
    if re.fullmatch(r"\d+", word):
        return parse_merged_class(int(word))
    return None


def _parse_code(text: object) -> Optional[int]:
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if text >= 0 else None
    word = str(text).strip()
    return int(word) if re.fullmatch(r"\d+", word) else None


def _parse_colour(value: object) -> tuple[int, int, int]:
    if isinstance(value, str) and re.fullmatch(r"#?[0-9a-fA-F]{6}", value.strip()):
        digits = value.strip().lstrip("#")
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    if isinstance(value, (list, tuple)) and len(value) == 3 \
            and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return int(value[0]), int(value[1]), int(value[2])
    raise ValueError("a colour must be '#rrggbb' or [r, g, b]")


_EXPECTED_CLASS = "a merged class: 0–3, water, forest, field, impervious, or 255/ignore"


def load_taxonomy(name: str, mapping: str = "") -> Taxonomy:
    """The taxonomy called ``name``: a built-in one, ``merged``, or ``custom`` from ``mapping``.

    Args:
        name: nlcd, chesapeake, enviroatlas, merged or custom (case-insensitive).
        mapping: for custom only: ``code:class,code:class`` or the path of a .json or .csv file.

    Raises:
        Low2HighError: unknown name, or a mapping that does not parse (the message says where).
    """
    key = (name or "").strip().lower()
    if key == "custom":
        return parse_mapping(mapping)
    if key in BUILT_IN or key == "merged":
        if mapping and mapping.strip():
            raise Low2HighError(f"MAPPING is only used with the custom taxonomy; leave it empty for {name}, "
                                "or choose TAXONOMY custom to use your own table.")
        return _taxonomy_from_json(os.path.join(TAXONOMY_FOLDER, f"{key}.json"), built_in=True)
    raise Low2HighError(f"Unknown taxonomy '{name}'; choose one of {', '.join(BUILT_IN)} or custom.")


def parse_mapping(mapping: str) -> Taxonomy:
    """A custom taxonomy from ``code:class,...`` text or from a .json / .csv file path."""
    text = (mapping or "").strip()
    if not text:
        raise Low2HighError("The custom taxonomy needs MAPPING: a list like "
                            "'11:water,41:forest,82:field,21:impervious' "
                            "or the path of a .json or .csv file.")
    extension = os.path.splitext(text)[1].lower()
    if extension in (".json", ".csv"):
        if not os.path.exists(text):
            raise Low2HighError(f"The MAPPING file '{text}' does not exist; check the path, or give the table as "
                                "code:class pairs.")
        return _taxonomy_from_json(text) if extension == ".json" else _taxonomy_from_csv(text)
    return _taxonomy_from_text(text)


def _taxonomy_from_text(text: str) -> Taxonomy:
    """``code:class`` items separated by commas, semicolons or new lines."""
    items = [item.strip() for item in re.split(r"[,;\n]", text)]
    classes: list[SourceClass] = []
    seen: dict[int, int] = {}
    for number, item in enumerate(items, start=1):
        if not item:
            continue
        where = f"MAPPING item {number} ('{item}')"
        parts = item.split(":")
        if len(parts) != 2:
            raise Low2HighError(f"{where}: expected code:class, e.g. 41:forest.")
        code, merged = _parse_code(parts[0]), parse_merged_class(parts[1])
        if code is None:
            raise Low2HighError(f"{where}: the code '{parts[0].strip()}' is not a whole number ≥ 0.")
        if merged is None:
            raise Low2HighError(f"{where}: '{parts[1].strip()}' is not {_EXPECTED_CLASS}.")
        if code in seen:
            raise Low2HighError(f"MAPPING gives code {code} twice (items {seen[code]} and {number}); keep one.")
        seen[code] = number
        classes.append(SourceClass(code, f"code {code}", merged))
    return _build("custom", classes, "MAPPING")


def _taxonomy_from_csv(path: str) -> Taxonomy:
    """Rows ``code,class[,name[,colour]]``; a header row is optional; ',' ';' or tab separate."""
    text, notes = read_table_text(path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    classes: list[SourceClass] = []
    lines: dict[int, int] = {}
    name = os.path.basename(path)
    first_row = True
    for line, row in _csv_rows(text, dialect, name):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        code = _parse_code(cells[0])
        is_header = first_row and code is None and (len(cells) < 2 or parse_merged_class(cells[1]) is None)
        first_row = False
        if is_header:
            continue  # e.g. code,class,name,colour
        where = f"'{name}' line {line}"
        if code is None or len(cells) < 2:
            raise Low2HighError(f"{where}: expected code,class[,name[,colour]] with a whole-number code, e.g. "
                                "41,forest.")
        merged = parse_merged_class(cells[1])
        if merged is None:
            raise Low2HighError(f"{where}: '{cells[1]}' is not {_EXPECTED_CLASS}.")
        if code in lines:
            raise Low2HighError(f"'{name}' gives code {code} twice (lines {lines[code]} and {line}); keep one.")
        lines[code] = line
        colour = _DEFAULT_COLOUR
        if len(cells) > 3 and cells[3]:
            try:
                colour = _parse_colour(cells[3])
            except ValueError as error:
                raise Low2HighError(f"{where}: {error}.") from error
        label = cells[2] if len(cells) > 2 and cells[2] else f"code {code}"
        classes.append(SourceClass(code, label, merged, colour))
    return _build("custom", classes, f"'{name}'", notes=notes)


def _csv_rows(text: str, dialect: Any, name: str) -> Iterator[tuple[int, list[str]]]:
    """Numbered rows of a CSV text; the reader's own errors (a stray quote, a NUL) as one sentence."""
    reader = csv.reader(io.StringIO(text), dialect)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise Low2HighError(f"The MAPPING file '{name}' cannot be read as CSV on line {reader.line_num} ({error}); "
                                "save the table as 'CSV UTF-8' with one code,class row per line.") from error
        yield reader.line_num, row


def _reject_duplicate_keys(text: str, where: str):
    """A json ``object_pairs_hook`` that refuses duplicate codes, naming their lines."""
    def hook(pairs: list[tuple[str, object]]) -> dict:
        result: dict = {}
        for key, value in pairs:
            if key in result and _parse_code(key) is not None:
                pattern = re.compile(r'"\s*' + re.escape(key.strip()) + r'\s*"\s*:')
                lines = [str(text.count("\n", 0, match.start()) + 1) for match in pattern.finditer(text)]
                raise Low2HighError(f"{where} gives code {key} more than once (lines {', '.join(lines)}); keep one.")
            result[key] = value
        return result
    return hook


def _taxonomy_from_json(path: str, built_in: bool = False) -> Taxonomy:
    """Our own format ``{"name", "classes": {code: {name, class, colour}}}`` or a flat ``{code: class}``."""
    where = f"'{os.path.basename(path)}'"
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError as error:
        raise Low2HighError(f"{where} is not UTF-8 text (byte 0x{error.object[error.start]:02X}); JSON files must be "
                            "UTF-8: save it as UTF-8 and run again.") from None
    except OSError as error:
        raise Low2HighError(f"The MAPPING file '{path}' cannot be read ({error.strerror}); check the path and its "
                            "permissions.") from error
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys(text, where))
    except json.JSONDecodeError as error:
        raise Low2HighError(f"{where} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                            "correct it there.") from error
    if not isinstance(data, dict):
        raise Low2HighError(f"{where} must hold a JSON object of code: class.")
    entries = data.get("classes", data) if isinstance(data.get("classes"), dict) else data
    classes: list[SourceClass] = []
    for key, value in entries.items():
        if key in ("name", "title", "description", "source") and entries is data:
            continue
        code = _parse_code(key)
        if code is None:
            raise Low2HighError(f"{where}: the key '{key}' is not a whole-number class code.")
        described = value if isinstance(value, dict) else {"class": value}
        merged = parse_merged_class(described.get("class"))
        if merged is None:
            raise Low2HighError(f"{where}, code {code}: '{described.get('class')}' is not {_EXPECTED_CLASS}.")
        try:
            colour = _parse_colour(described["colour"]) if "colour" in described else _DEFAULT_COLOUR
        except ValueError as error:
            raise Low2HighError(f"{where}, code {code}: {error}.") from error
        classes.append(SourceClass(code, str(described.get("name", f"code {code}")), merged, colour))
    name = str(data.get("name", "custom")) if built_in else "custom"
    return _build(name, classes, where, source=str(data.get("source", "")))


def _build(name: str, classes: Sequence[SourceClass], where: str, source: str = "",
           notes: tuple[str, ...] = ()) -> Taxonomy:
    if not classes:
        raise Low2HighError(f"{where} maps no class codes; give at least one code:class pair.")
    huge = [item.code for item in classes if item.code > LARGEST_CODE]
    if huge:
        raise Low2HighError(f"{where} gives code {huge[0]}, larger than any class raster can hold ({LARGEST_CODE}); "
                            "correct that code.")
    return Taxonomy(name, tuple(sorted(classes, key=lambda item: item.code)), source, notes)
