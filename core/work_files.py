"""Hidden work files beside an output: named so they are recognisably ours, swept when a run died.

Every file Low2High publishes is first written to a hidden work file beside its destination
(:mod:`.publication`). A run that is killed outright (``kill -9``, a crash, a desktop session
closing while an algorithm runs in a background thread) cannot remove it, and a raster or a model
is gigabytes. So every work file belongs to a *group* ``.<name>.<8 hex>.<kind>*`` (``kind`` is
``partial`` or ``scratch``) with a lock file ``.<name>.<8 hex>.<kind>.lock`` that the writing
process holds an OS lock on while it works. The next run writing into the same folder, whatever
file it writes, removes the groups whose lock nobody holds: a killed process's lock is gone with
it, while a run still writing (a second ``segment`` into the same folder) keeps its files.

A work file that is itself written through another atomic write (a checkpoint saved to the hidden
``.pt`` of a model being published) is written in place: it is already hidden and unpublished, so
a second hidden name inside it would only add a file no group owns.

Files left by older versions (``.<name>.<8 random>.partial…`` without a lock file, e.g.
``..m.pt.<hex>.partial.pt.<rand>.partial`` or ``.int8-<key>.onnx.<rand>.partial.onnx``) are
recognised too and removed once nothing has touched them for :data:`UNLOCKED_STALE_SECONDS`.
Only files matching these patterns, and only in the folder being written, are ever removed.

This lives in ``models`` because it is the lowest layer: checkpoints and ONNX exports are
published here too, and every other part of the package may import it.
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
#: A lock being made (``.lock-new``: locked microseconds after its creation, then renamed) is judged
#: by its lock only once it is this old; a run killed between the two left it behind.
LOCK_BIRTH_SECONDS = 0.5
#: The random part of a group's name: 8 hex digits now, 8 of ``tempfile``'s characters in older versions.
_TAG = r"[a-z0-9_]{8}"


def try_lock(handle: IO[Any]) -> bool:
    """Take an exclusive OS lock on an open file without waiting; False when another holder has it.

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


def _group_pattern(name: Optional[str]) -> re.Pattern[str]:
    """Matches a work file; group 1 is its group's stem (the outermost one, for nested names)."""
    stem_name = re.escape(name) if name is not None else r"[^/\\]+?"  # lazy: the shortest, outermost group
    return re.compile(rf"^(\.{stem_name}\.{_TAG}\.(?:{'|'.join(KINDS)}))(?:\..+)?$")


_ANY_GROUP = _group_pattern(None)


def work_stem(folder: str, name: str, kind: str) -> str:
    """A fresh group stem ``<folder>/.<name>.<8 hex>.<kind>`` (append ``.tif``, ``.lock``, ...)."""
    return os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.{kind}")


def is_work_file(path: str) -> bool:
    """True when ``path`` is one of our hidden work files (so writing it is already unpublished)."""
    return _ANY_GROUP.match(os.path.basename(path)) is not None


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
    pattern = _group_pattern(name)
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
    if lock_path not in files and stem + ".lock-new" in files:  # killed while locking (see :func:`held`)
        lock_path = stem + ".lock-new"
        try:
            if time.time() - os.path.getmtime(lock_path) < LOCK_BIRTH_SECONDS:
                return False
        except OSError:
            return False
    elif lock_path not in files:
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
    for stem, files in _groups(folder or ".", name).items():
        if not _is_stale(stem, files):
            continue
        for path in sorted(files, key=lambda item: item.endswith(".lock")):  # the lock file last
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
    return removed
