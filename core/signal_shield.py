"""Hold Ctrl-C and termination signals back while outputs are renamed into place, then hand them on.

Publishing several files is a few renames; a ``KeyboardInterrupt`` raised between two of them
would leave a new ``.onnx`` beside an old ``.pt``. Inside :func:`signals_held` the signals are
only recorded; the caller finishes its renames and then calls the returned ``deliver()`` (leaving
the block calls it too), which puts the previous handlers back and runs them for what arrived.
A handler that raises (Python's Ctrl-C handler raises ``KeyboardInterrupt``, Low2High's SIGTERM
handler ``Cancelled``) raises there, so the caller can undo its renames and stop; a handler that
only sets a flag (a training loop that stops after its step) lets the publication stand, as it
would have without the shield.

Only Python-level handlers are held, and only in the main thread (Python allows no other): a
handler the host installed in C (``qgis_process`` turns Ctrl-C into a cancel request) is left
alone, and the caller asks its progress object instead.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator, Optional

#: The signals that ask the process to end (SIGHUP does not exist on Windows); :mod:`.signals` turns them into a cancel.
TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
#: The signals that ask a run to stop: Ctrl-C and those.
HELD_SIGNALS = (signal.SIGINT, *TERMINATION_SIGNALS)


@contextmanager
def signals_held() -> Iterator[Callable[[], None]]:
    """Record the stop signals while the ``with`` block runs; yields ``deliver()`` (see the module)."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    pending: list[int] = []
    previous: dict[int, Any] = {}

    def record(signum: int, frame: Optional[FrameType]) -> None:
        if signum not in pending:
            pending.append(signum)

    def deliver() -> None:
        handlers = dict(previous)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        previous.clear()
        while pending:
            signum = pending.pop(0)
            handlers[signum](signum, None)

    for signum in HELD_SIGNALS:
        current = signal.getsignal(signum)
        if callable(current):  # not SIG_DFL / SIG_IGN, and not a handler installed in C (None)
            previous[signum] = signal.signal(signum, record)
    try:
        yield deliver
    finally:
        deliver()  # a block that failed still hands on what arrived (its own error is chained)
