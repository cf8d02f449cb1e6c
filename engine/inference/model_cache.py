"""Derived model files (int8 quantisations, ONNX exports, precision decisions) in the user's cache.

A derived file is keyed by the SHA-256 of the model file it comes from plus every setting that
shapes it (and the library versions), so an edited model or a new ONNX Runtime gets a new entry
rather than a stale one. Each entry has a manifest recording its key and its own SHA-256: an
entry whose manifest is missing or unreadable, whose key differs, or whose bytes no longer match
is rebuilt, never trusted. Entries are written to a temporary file and renamed into place, so a
crash or two QGIS processes building at once never leave a half-written model. Nothing is ever
written into or beside the user's model file.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional

from ...core.errors import Low2HighError
from ...core.files import atomic_path, atomic_write_json

#: Overrides the cache folder (tests, shared installations).
CACHE_ENVIRONMENT = "LOW2HIGH_CACHE_DIR"


def cache_folder() -> str:
    """``$LOW2HIGH_CACHE_DIR``, else ``$XDG_CACHE_HOME/low2high``, else ``~/.cache/low2high``."""
    explicit = os.environ.get(CACHE_ENVIRONMENT)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "low2high")


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (hex); computed once per process for an unchanged file (same size
    and modification time), since one run asks for its model's digest several times."""
    status = os.stat(path)
    return _digest(os.path.abspath(path), status.st_size, status.st_mtime_ns)


@lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for piece in iter(lambda: stream.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def key_of(settings: dict[str, Any]) -> str:
    """A short stable name for a settings dict (JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheEntry:
    """A file in the cache and how it came to be used."""

    path: str
    built: bool  # True: made now; False: an existing, verified entry
    note: str = ""  # why an existing entry was rebuilt ("" when it was not)


def cached_file(kind: str, suffix: str, settings: dict[str, Any], build: Callable[[str], None],
                folder: Optional[str] = None) -> CacheEntry:
    """The verified cache entry for ``settings``, built by ``build(path)`` when missing or bad.

    Args:
        kind: a word naming what the file is ("int8", "export"); part of its name.
        suffix: the file's extension, with the dot.
        settings: everything the file depends on, including the source model's digest.
        build: writes the file to the (temporary) path it is given.
        folder: the cache folder (default :func:`cache_folder`).
    """
    folder = folder or cache_folder()
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise Low2HighError(f"Cannot create the model cache folder '{folder}' ({error.strerror}); set "
                            f"{CACHE_ENVIRONMENT} to a writable folder.") from error
    name = f"{kind}-{key_of(settings)}"
    path, manifest_path = os.path.join(folder, name + suffix), os.path.join(folder, name + ".json")
    problem = _problem(path, manifest_path, settings)
    if problem is None:
        return CacheEntry(path, built=False)
    with atomic_path(path, suffix) as temporary:
        build(temporary)
    write_json(manifest_path, {"settings": settings, "sha256": file_digest(path)})
    return CacheEntry(path, built=True, note="" if problem == "missing" else problem)


def _problem(path: str, manifest_path: str, settings: dict[str, Any]) -> Optional[str]:
    """Why an entry cannot be used ("missing", or what is wrong with it), or None when it can."""
    if not os.path.exists(path) and not os.path.exists(manifest_path):
        return "missing"
    manifest = read_json(manifest_path)
    if manifest is None:
        return "its manifest was missing or unreadable"
    if manifest.get("settings") != settings:
        return "it was made from other settings"
    if not os.path.exists(path) or file_digest(path) != manifest.get("sha256"):
        return "its file was missing or damaged"
    return None


def read_json(path: str) -> Optional[dict]:
    """A JSON object from a file, or None when it is missing or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: str, value: dict) -> None:
    """Write a JSON object atomically (:func:`~low2high.core.files.atomic_write_json`)."""
    atomic_write_json(path, value, sort_keys=True)
