"""How long operations report progress, log and learn that the user cancelled.

The engine talks to a :class:`Progress`; QGIS algorithms adapt ``QgsProcessingFeedback`` to it,
command-line tools use :class:`ConsoleProgress`, tests use :class:`SilentProgress` or their own.
"""
from __future__ import annotations

import sys
from typing import Protocol

from .errors import Cancelled


class Progress(Protocol):
    """What a long operation needs from its caller."""

    def set_fraction(self, fraction: float) -> None:
        """Report the share of the work done, from 0 to 1."""

    def is_canceled(self) -> bool:
        """True once the user asked to stop."""

    def info(self, message: str) -> None:
        """Log a line for the user."""

    def warn(self, message: str) -> None:
        """Log a warning the user should read."""


class SilentProgress:
    """Reports nothing and never cancels (library use, tests)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.warnings: list[str] = []

    def set_fraction(self, fraction: float) -> None:
        pass

    def is_canceled(self) -> bool:
        return False

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class ConsoleProgress(SilentProgress):
    """Prints log lines and warnings to stderr (command-line tools)."""

    def info(self, message: str) -> None:
        super().info(message)
        print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        super().warn(message)
        print(f"warning: {message}", file=sys.stderr)


def check_canceled(progress: Progress) -> None:
    """Raise :class:`Cancelled` if the user asked to stop."""
    if progress.is_canceled():
        raise Cancelled()


def format_duration(seconds: float) -> str:
    """A duration as a person reads it in a log ("42 s", "1 min 39 s", "2 h 05 min").

    Seconds alone stop being readable past a minute or so, and a precision finer than the
    estimate's own (tenths of seconds in an hour-long ETA) would only suggest false accuracy.
    """
    whole = max(0, int(round(seconds)))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def time_left(done: float, total: float, elapsed: float) -> str:
    """``"about 1 min 39 s left"`` at the rate so far, or ``""`` before there is a rate to go on.

    Shared by every long loop (segment's tiles, finetune's steps) so that their log lines estimate
    and word the remaining time alike.
    """
    if done <= 0 or total <= done or elapsed <= 0:
        return ""
    return f"about {format_duration(elapsed / done * (total - done))} left"
