"""Checks of the files and folders a training command will write, made before any work starts.

A command that scores a model for minutes and then cannot write its result wastes the user's time;
one that writes onto its own input destroys it. Both are refused here, at once, with a sentence
that names the path and what to do. Nothing is created by these checks.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

from ..low2high_plugin.errors import Low2HighError
from ..models.file_identity import same_file


def _existing_ancestor(path: str) -> str:
    """The nearest folder at or above ``path`` that exists (where new folders would be made)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def check_writable_folder(folder: str, what: str) -> None:
    """Refuse a folder that cannot be created or written in (read-only, or under a file).

    Raises:
        Low2HighError: naming the folder and the reason.
    """
    existing = _existing_ancestor(folder)
    if not os.path.isdir(existing):
        raise Low2HighError(f"The {what} '{folder}' cannot be created: '{existing}' is a file; choose another "
                            "path.")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == os.path.abspath(folder) else f" ('{existing}' is read-only)"
        raise Low2HighError(f"The {what} '{folder}' is not writable{where}; choose a folder you can write to.")


def check_output_file(path: str, what: str, extensions: Sequence[str] = (),
                      inputs: Sequence[Optional[str]] = ()) -> str:
    """Check a file a command will write; returns its absolute path.

    Args:
        path: The file to write.
        what: Its flag, for messages (``--output-json``).
        extensions: Accepted extensions (lower case, with the dot); empty: any.
        inputs: Files the command reads, which must never be overwritten.

    Raises:
        Low2HighError: a wrong extension, an existing folder of that name, an input, or a place
            that cannot be written.
    """
    target = os.path.abspath(path)
    for source in filter(None, inputs):
        if same_file(source, path):  # also through a linked folder, a hard link or a '..' path
            raise Low2HighError(f"{what} '{path}' is the input file itself, which writing would destroy; choose "
                                "another file name.")
    extension = os.path.splitext(target)[1].lower()
    if extensions and extension not in extensions:
        raise Low2HighError(f"{what} must be a {' or '.join(extensions)} file, not '{os.path.basename(target)}'; "
                            f"choose a name ending in {extensions[0]}.")
    if os.path.isdir(target):
        raise Low2HighError(f"{what} '{path}' is a folder; give a file name.")
    check_writable_folder(os.path.dirname(target), f"folder of {what}")
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise Low2HighError(f"{what} '{path}' exists and is read-only; choose another file name or make it "
                            "writable.")
    return target
