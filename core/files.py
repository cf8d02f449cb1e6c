"""Atomic file writing: the one rule for every file Low2High publishes.

A file appears complete under its final name or not at all: its content goes to a hidden work
file in the destination folder (the same file system, so the final rename is atomic), and an
interrupted or failed write (an error, Ctrl-C, a full disk) removes it. Users point QGIS at models
while training runs and resume runs after a crash, so a half-written checkpoint, CSV or JSON file
would be read as a valid one. These are single-file :class:`~.publication.Publication`\\ s: a
run writing several files stages them in one publication instead, so they appear together.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from .publication import Publication

PARTIAL_SUFFIX = ".partial"
"""Hidden work files are named ``.<name>.<8 hex><PARTIAL_SUFFIX><suffix>`` beside their destination."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", sweep: bool = True) -> Iterator[str]:
    """A hidden path beside ``path`` for a writer that needs a file name; published on success.

    Args:
        path: Destination file; missing parent folders are created.
        suffix: Appended to the hidden file's name, for writers that choose a format by extension
            (e.g. ".onnx").
        sweep: Remove what killed runs left in the folder first (see :class:`~.publication.Publication`).

    Yields:
        The hidden path to write (it exists, empty). When the block ends without an error it is
        fsynced and renamed to ``path``.
    """
    with Publication(sweep=sweep) as publication:
        temporary = publication.stage(path, suffix)
        if not os.path.exists(temporary):
            open(temporary, "xb").close()
        yield temporary


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
