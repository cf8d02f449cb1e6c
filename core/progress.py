"""How long operations report progress, log and learn that the user cancelled.

The engine talks to a :class:`Progress`; QGIS algorithms adapt ``QgsProcessingFeedback`` to it,
command-line tools use :class:`ConsoleProgress`, tests use :class:`SilentProgress` or their own.
"""
from __future__ import annotations

import sys
import time
from typing import Optional, Protocol

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
    """Prints log lines and warnings to stderr (command-line tools), each on a line of its own.

    Commands draw tqdm bars on stderr (fit's epochs, build-dataset's chips); a line printed over a
    bar continued the bar's line. So when tqdm is in use the line goes through ``tqdm.write``,
    which clears the bars, writes the line and draws them again below it.
    """

    def info(self, message: str) -> None:
        super().info(message)
        _write_line(message)

    def warn(self, message: str) -> None:
        super().warn(message)
        _write_line(f"warning: {message}")


def _write_line(line: str) -> None:
    bars = sys.modules.get("tqdm")  # imported only by code that draws bars: otherwise there is none
    if bars is not None:
        bars.tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


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


#: Seconds between a long loop's "done, time left" log lines (segment's tiles, build-dataset's chips):
#: percent alone told a user of an hour-long run nothing about when it ends, and a line per batch
#: would drown the log; a short run logs none.
ETA_EVERY_S = 30.0


class Countdown:
    """Log lines "1,200/5,000 chips, about 3 min 10 s left." for a long loop of countable items.

    At most one line per ``every_s`` seconds (0: after every item, for loops of minutes-long items
    such as the benchmarks' training runs), none once the loop is done; the estimate is
    :func:`time_left`'s, so every loop words it alike.
    """

    def __init__(self, progress: Progress, total: int, unit: str, every_s: Optional[float] = None) -> None:
        self.progress, self.total, self.unit = progress, total, unit
        self.every_s = ETA_EVERY_S if every_s is None else every_s
        self.done = 0
        self.started = time.perf_counter()
        self._next = self.started + self.every_s

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items done; log the line when it is time."""
        self.done += count
        now = time.perf_counter()
        if now >= self._next and self.done < self.total:
            self._next = now + self.every_s
            left = time_left(self.done, self.total, now - self.started)
            self.progress.info(f"{self.done:,}/{self.total:,} {self.unit}{f', {left}' if left else ''}.")
