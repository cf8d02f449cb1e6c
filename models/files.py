"""Atomic file writing: the one rule for every file Low2High publishes.

A file appears complete under its final name or not at all: its content goes to a hidden
temporary file in the destination folder (the same file system, so the final ``os.replace`` is
atomic), and an interrupted or failed write (an error, Ctrl-C, a full disk) removes the
temporary. Users point QGIS at models while training runs and resume runs after a crash, so a
half-written checkpoint, CSV or JSON file would be read as a valid one.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

PARTIAL_SUFFIX = ".partial"
"""Hidden temporaries are named ``.<name>.<random><PARTIAL_SUFFIX>`` beside their destination."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``path`` for a writer that needs a file name; published on success.

    Args:
        path: Destination file; missing parent folders are created.
        suffix: Appended to the temporary's name, for writers that choose a format by extension
            (e.g. ".onnx").

    Yields:
        The temporary path to write. When the block ends without an error it is fsynced, made
        world-readable (outputs are meant to be shared) and renamed to ``path``.
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=PARTIAL_SUFFIX + suffix,
                                         dir=destination.parent)
    os.close(handle)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it owner-only
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """Write a file through ``write(binary_stream)`` so readers see the old file or the whole new one."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        write(stream)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically (newlines as given)."""
    atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, value: Any, **options: Any) -> None:
    """Write ``value`` as indented JSON atomically; ``options`` go to :func:`json.dumps` (e.g. ``default``)."""
    atomic_write_text(path, json.dumps(value, indent=2, **options) + "\n")
