"""Atomic file writing shared by checkpoint saving and ONNX export."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write a file so that readers see either the old file or the complete new one.

    The content goes to a temporary file in the destination folder (same file system, so the
    final ``os.replace`` is atomic); an interrupted or failed write leaves no partial model
    behind, which matters for users who point QGIS at the output while training runs.

    Args:
        path: Destination file; missing parent folders are created.
        write: Callback writing the whole content to the open binary file it receives.
    """
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it owner-only; models are meant to be shared
        os.replace(temporary, destination)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
