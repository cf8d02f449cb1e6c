"""Hidden work files beside an output: named so they are recognisably ours, swept when a run died.

Outputs are written to a hidden file beside the destination and renamed into place on success
(:func:`~low2high_plugin.geo.raster_io.atomic_output`). A run that is killed outright (``kill -9``,
a crash, a desktop session closing while the algorithm runs in a background thread) cannot remove
that file, and on a large raster it holds gigabytes. So every work file belongs to a *group*
``.<name>.<8 hex>.<kind>.*`` (``kind`` is ``partial`` or ``scratch``) with a lock file
``.<name>.<8 hex>.<kind>.lock`` that the writing process holds an OS lock on while it works. The
next run writing beside it removes the groups whose lock nobody holds: a killed process's lock is
gone with it, while a run still writing (a second ``segment`` on the same OUTPUT) keeps its files.

Only files matching that pattern, and only in the output's own folder, are ever removed.
"""
from __future__ import annotations

import os
import re
import time
import uuid
from contextlib import contextmanager
from typing import IO, Any, Iterator, Optional

KINDS = ("partial", "scratch")
#: A group without a lock file (written by a Low2High that had none) is stale after this long.
UNLOCKED_STALE_SECONDS = 3600.0


def try_lock(handle: IO[Any]) -> bool:
    """Take an exclusive OS lock on an open file without waiting; False when another process holds it.

    ``flock`` on POSIX, ``msvcrt.locking`` on Windows: the operating system releases the lock when
    its process ends, however it ends, so a held lock always means a live run (the one rule of work
    files here and of training run folders, :mod:`low2high.train.runner.lock`).
    """
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def work_stem(folder: str, name: str, kind: str) -> str:
    """A fresh group stem ``<folder>/.<name>.<8 hex>.<kind>`` (append ``.tif``, ``.lock``, ...)."""
    return os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.{kind}")


@contextmanager
def held(stem: str) -> Iterator[None]:
    """Hold the group's lock file while the ``with`` block works; remove the lock file at the end."""
    lock_path = stem + ".lock"
    try:
        # locked under another name of the group, then renamed: a sweep never sees an unlocked .lock of ours
        opened = open(stem + ".lock-new", "wb")
        try_lock(opened)
        os.replace(stem + ".lock-new", lock_path)
        handle: Optional[IO[bytes]] = opened
    except OSError:
        handle = None  # an unwritable folder: the output itself will fail with a clear message
    try:
        yield
    finally:
        if handle is not None:
            handle.close()
            if os.path.exists(lock_path):
                os.remove(lock_path)


def _groups(folder: str, name: Optional[str]) -> dict[str, list[str]]:
    """Our work files in ``folder`` by group stem (only those of ``name`` when given)."""
    stem_name = re.escape(name) if name is not None else r"[^/\\]+"
    pattern = re.compile(rf"^(\.{stem_name}\.[0-9a-f]{{8}}\.(?:{'|'.join(KINDS)}))(?:\..+)?$")
    groups: dict[str, list[str]] = {}
    try:
        entries = os.listdir(folder)
    except OSError:
        return groups
    for entry in entries:
        match = pattern.match(entry)
        if match:
            groups.setdefault(os.path.join(folder, match.group(1)), []).append(os.path.join(folder, entry))
    return groups


def _is_stale(stem: str, files: list[str]) -> bool:
    lock_path = stem + ".lock"
    if lock_path not in files:
        newest = max((os.path.getmtime(path) for path in files if os.path.exists(path)), default=0.0)
        return time.time() - newest > UNLOCKED_STALE_SECONDS
    try:
        with open(lock_path, "rb") as handle:
            return try_lock(handle)  # nobody holds it: its process is gone (closing releases it again)
    except OSError:
        return False


def sweep_stale(folder: str, name: Optional[str] = None) -> list[str]:
    """Remove the work files of dead runs in ``folder`` (of output ``name`` only, when given).

    Returns:
        The removed paths (for a log line).
    """
    removed = []
    for stem, files in _groups(folder, name).items():
        if not _is_stale(stem, files):
            continue
        for path in sorted(files, key=lambda item: item.endswith(".lock")):  # the lock file last
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
    return removed
