"""SIGTERM and SIGHUP cancel a long operation the way Ctrl-C does: cleanly, leaving nothing behind.

Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` in Python's main thread, which unwinds through the
operation's clean-up (hidden output files removed, threads stopped). SIGTERM (``timeout``, job
schedulers, ``kill``) and SIGHUP (a closing terminal or desktop session) would end the process at
once instead, stranding hidden work files. Inside :func:`cancel_on_termination` they raise
:class:`~low2high.core.errors.Cancelled` in the main thread instead, once, so the same clean-up
runs; a second signal during the clean-up is ignored so that it can finish.

The plugin is a guest in QGIS: handlers are installed only in the main thread (Python allows no
other; Processing runs algorithms in background threads, where nothing changes), only over a
handler Python can put back (never over one the host installed in C), and the previous handlers
are restored when the operation ends.
"""
from __future__ import annotations

import functools
import signal
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Callable, Iterator, Optional, TypeVar

from .errors import Cancelled
from .signal_shield import TERMINATION_SIGNALS

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def cancel_on_termination(what: str = "the run") -> Iterator[None]:
    """Turn SIGTERM / SIGHUP into :class:`Cancelled` while the ``with`` block runs (main thread only).

    Args:
        what: What stops, for the message ("segment").
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum: int, frame: Optional[FrameType]) -> None:
        if received:
            return  # already cancelling: let the clean-up finish
        received.append(signum)
        raise Cancelled(f"Stopped by {signal.Signals(signum).name} (the process was asked to end): {what} wrote "
                        "no output; run it again to get one.")

    previous: dict[int, Any] = {}
    try:
        for signum in TERMINATION_SIGNALS:
            current = signal.getsignal(signum)
            if current is None:  # a handler the host installed outside Python: not ours to replace
                continue
            previous[signum] = signal.signal(signum, handle)
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def cancels_on_termination(what: str) -> Callable[[F], F]:
    """Decorator: the function runs inside :func:`cancel_on_termination` (``what`` names it)."""
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with cancel_on_termination(what):
                return function(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate
