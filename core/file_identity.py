"""Whether two paths name one file: the rule every output check applies to its command's inputs.

Lives in ``models``, the lowest layer, so that the engine's raster checks, the training commands'
file checks and the algorithms all apply the same rule.
"""
from __future__ import annotations

import os


def same_file(path: str | os.PathLike, other: str | os.PathLike) -> bool:
    """Whether ``path`` and ``other`` name one file, so that writing one would destroy the other.

    Comparing path strings is not enough: a user reaches an input through a linked folder, a hard
    link or a ``..`` path as easily as by its own name. So the absolute paths are compared (two
    names of a file not written yet), then the paths with links and ``..`` resolved as the OS
    resolves them (``linked/..`` is not the folder :func:`os.path.abspath` shortens it to), then
    the files themselves (a hard link, a folder mounted twice).
    """
    if os.path.abspath(path) == os.path.abspath(other) or os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet): no file is shared
        return False
