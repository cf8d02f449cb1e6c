"""Exceptions that carry a sentence meant for the user.

The engine raises :class:`Low2HighError` for anything the user can fix (a wrong file, a
parameter out of range, a missing package). The QGIS algorithms turn it into a
``QgsProcessingException`` and the command-line tools print it, so a user's mistake never
ends in a Python traceback.
"""
from .publication import PublishError


class Low2HighError(Exception):
    """A problem the user can understand and fix; ``str(error)`` is the whole message."""


class Cancelled(Low2HighError):
    """The user cancelled the operation; nothing was left behind."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)


class MissingDependencyError(Low2HighError):
    """A Python package the requested operation needs is not installed."""


#: What a run ends with as its sentence for the user (never a traceback): the engine's errors, and
#: an output the file system refused to put in place (:class:`~low2high.core.publication.PublishError`,
#: raised below the engine, where this module cannot be imported). QGIS algorithms and commands catch these.
USER_ERRORS: tuple[type[Exception], ...] = (Low2HighError, PublishError)
