"""Per-epoch records of a run written as ``metrics.csv`` (one row per epoch, rewritten whole).

The history lives in the resumable state, and the CSV is rewritten from it after every epoch, so
a resumed run never duplicates or loses a row.
"""
from __future__ import annotations

import csv
import math
from typing import Any, Iterable, Sequence

from ...core.files import atomic_path


def columns(history: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of the records, in first-seen order."""
    seen: dict[str, None] = {}
    for record in history:
        seen.update(dict.fromkeys(record))
    return list(seen)


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def write_csv(path: str, history: Sequence[dict[str, Any]]) -> None:
    """Write the records as CSV (atomically; missing values are empty cells)."""
    write_csv_atomically(path, columns(history),
                         ({key: _cell(value) for key, value in record.items()} for record in history))


def write_csv_atomically(path: str, fieldnames: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write a CSV to a hidden temporary beside ``path`` and rename it: readers never see half a file."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(fieldnames), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
