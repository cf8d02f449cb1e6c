"""One job per output folder at a time: an OS lock on a file in the folder.

Two jobs writing one folder would each think the other's rasters unfinished and rewrite the
manifest over each other. The lock is an OS lock (:func:`~low2high.core.work_files.try_lock`),
released by the operating system when its process ends however it ends, so a job killed outright
never blocks the next one.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from ...core.errors import Low2HighError
from ...core.work_files import try_lock

LOCK_NAME = ".segment-many.lock"


@contextmanager
def folder_locked(output_dir: str) -> Iterator[None]:
    """Hold the output folder's job lock while the ``with`` block runs.

    Raises:
        Low2HighError: another job holds it.
    """
    path = os.path.join(output_dir, LOCK_NAME)
    handle = open(path, "a+b")
    try:
        if not try_lock(handle):
            raise Low2HighError(f"Another segment-many job is writing into '{output_dir}' (it holds {LOCK_NAME}); "
                                "wait for it to finish, or choose another output folder.")
        yield
    finally:
        handle.close()
