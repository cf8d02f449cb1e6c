"""An advisory lock on a folder, so two training runs never work in the same output folder at once.

The lock is an OS file lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) on a small hidden
file: the operating system releases it when the process ends, however it ends, so a run killed
with ``kill -9`` never leaves a folder locked and its re-run resumes at once. The file itself stays
(empty apart from the holder's process id, for the message a second run prints).
"""
from __future__ import annotations

import os
import socket
from types import TracebackType
from typing import IO, Optional

from ...core.errors import Low2HighError
from ...core.work_files import try_lock

LOCK_FILE = ".low2high.lock"


def holder(path: str) -> Optional[str]:
    """Who holds the lock file ``path`` now (None when nobody does); creates nothing."""
    try:
        handle = open(path, "r+", encoding="utf-8")
    except OSError:  # no lock file: nobody ever locked here (or it cannot be opened: the real lock will say)
        return None
    with handle:
        if try_lock(handle):
            return None  # closing releases it again
        return handle.read().strip() or "another process"


def _busy(holder_text: str, what: str) -> Low2HighError:
    return Low2HighError(f"Another run ({holder_text}) is working in {what}; wait for it to finish (then run the "
                         "command again to continue) or choose another output folder.")


class FolderLock:
    """Context manager holding the lock file ``path``; ``what`` names the folder in the message.

    Raises:
        Low2HighError: on entering, when another process holds the lock.
    """

    @staticmethod
    def refuse_if_held(path: str, what: str) -> None:
        """Refuse at once, before any work, when a run holds the lock; creates nothing."""
        holder_text = holder(path)
        if holder_text is not None:
            raise _busy(holder_text, what)

    def __init__(self, path: str, what: str) -> None:
        self.path = path
        self.what = what
        self._handle: Optional[IO[str]] = None

    def __enter__(self) -> "FolderLock":
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as error:
            raise Low2HighError(f"Cannot write in {self.what} ({error.strerror}); choose a folder you can write "
                                "to.") from error
        handle.seek(0)
        if not try_lock(handle):
            handle.seek(0)
            holder_text = handle.read().strip() or "another process"
            handle.close()
            raise _busy(holder_text, self.what)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, kind: Optional[type], error: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file releases the lock
            self._handle = None
