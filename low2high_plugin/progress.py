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
