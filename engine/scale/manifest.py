"""The job's manifest: what the output folder holds, so a stopped job resumes and never mixes maps.

``segment-many.json`` in the output folder records the model (its SHA-256), every setting that
shapes a map, and per raster its input (path, size, modification time), its map and its status.
Started again with the same command (after Ctrl-C, a killed scheduler, a reboot) a job maps only
the rasters not recorded as done, or whose input changed since. A job asking for another model
or other settings is refused with a sentence: its maps would differ from the ones already there,
silently. The manifest is rewritten atomically after every raster, so a crash leaves the last
complete one.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from ...core.errors import Low2HighError
from ...core.files import atomic_write_json
from .jobs import DONE, PENDING, MapSettings, Outcome, RasterTask

MANIFEST_NAME = "segment-many.json"
MOSAIC_NAME = "mosaic.vrt"
SUMMARY_NAME = "summary.csv"
FORMAT = 1


@dataclass
class Manifest:
    """The manifest of one output folder (see the module)."""

    path: str
    model_sha256: str
    model_name: str
    settings: dict[str, Any]
    rasters: dict[str, Outcome] = field(default_factory=dict)
    existed: bool = False  # read from the folder (a resumed job), not new

    @classmethod
    def open(cls, output_dir: str, model_sha256: str, model_name: str, settings: MapSettings) -> "Manifest":
        """The folder's manifest, checked against this job; a new one when there is none.

        Raises:
            Low2HighError: the folder's maps were made with another model or other settings, or the
                manifest is not one Low2High wrote.
        """
        path = os.path.join(output_dir, MANIFEST_NAME)
        wanted = settings.shaping()
        record = _read(path)
        if record is None:
            return cls(path, model_sha256, model_name, wanted)
        if record.get("model_sha256") != model_sha256:
            raise Low2HighError(
                f"The output folder '{output_dir}' holds maps made with another model ({record.get('model_name')}, "
                f"SHA-256 {str(record.get('model_sha256'))[:12]}…) than this job's ({model_name}, "
                f"{model_sha256[:12]}…); choose a new output folder, or run with the model those maps were made with.")
        recorded = record.get("settings") or {}
        changed = [name for name in sorted(set(wanted) | set(recorded)) if wanted.get(name) != recorded.get(name)]
        if changed:
            differences = "; ".join(f"{name} {_shown(recorded.get(name))} there, {_shown(wanted.get(name))} now"
                                    for name in changed)
            raise Low2HighError(f"The output folder '{output_dir}' holds maps made with other settings "
                                f"({differences}); choose a new output folder, or run with the settings those maps "
                                "were made with.")
        rasters = {stem: Outcome.from_record(entry) for stem, entry in (record.get("rasters") or {}).items()}
        return cls(path, model_sha256, model_name, wanted, rasters, existed=True)

    def finished(self, task: RasterTask) -> bool:
        """True when ``task``'s map is done from this very input (same path, size, time) and still there."""
        entry = self.rasters.get(task.stem)
        return (entry is not None and entry.status == DONE and entry.input_path == task.input_path
                and entry.size == task.size and entry.mtime_ns == task.mtime_ns and bool(entry.output)
                and os.path.isfile(os.path.join(os.path.dirname(self.path), entry.output)))

    def owns(self, stem: str) -> bool:
        """True when the map of ``stem`` was given to this job (by this run or an earlier one): its files
        in the folder, published or not, are the job's own to replace."""
        entry = self.rasters.get(stem)
        return entry is not None and bool(entry.output)

    def claim(self, tasks: list[RasterTask]) -> None:
        """Record the maps this run will write before any is written, so that a map published just
        before a crash is known as the job's own (and redone), never taken for a user's file."""
        for task in tasks:
            output = os.path.relpath(task.output_path, os.path.dirname(self.path))
            self.rasters[task.stem] = Outcome(task.stem, task.input_path, PENDING, output, pixels=task.pixels,
                                              size=task.size, mtime_ns=task.mtime_ns, parent=task.parent)
        self.save()

    def record(self, outcome: Outcome) -> None:
        """Remember one raster's outcome and rewrite the manifest (atomically)."""
        self.rasters[outcome.stem] = outcome
        self.save()

    def save(self) -> None:
        atomic_write_json(self.path, {
            "format": FORMAT, "written_by": "low2high segment-many", "model_name": self.model_name,
            "model_sha256": self.model_sha256, "settings": self.settings,
            "rasters": {stem: outcome.as_record() for stem, outcome in sorted(self.rasters.items())}})


def _read(path: str) -> Optional[dict[str, Any]]:
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            record = json.load(stream)
    except (OSError, ValueError) as error:
        raise Low2HighError(f"The job manifest '{path}' cannot be read ({error}); it is not one Low2High wrote "
                            "completely, so choose a new output folder.") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise Low2HighError(f"'{path}' is not a segment-many manifest this version understands; choose a new "
                            "output folder.")
    return record


def _shown(value: Any) -> str:
    return "default" if value is None else str(value)
