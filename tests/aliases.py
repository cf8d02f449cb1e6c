"""Other names of an existing file, for the tests that an output is never one of its command's inputs.

A same-file check that compares path strings passes every test that gives the input's own path
as the output, and still lets a run overwrite its input when the user reaches the input another
way: through a linked folder, by a hard link, or by a path with ``..`` in it (where the OS resolves
``..`` after following links, unlike :func:`os.path.abspath`). Each kind here is such a way.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable

ALIAS_KINDS = ("symlinked folder", "hard link", "dot-dot", "dot-dot out of a symlinked folder")
"""The ways of naming an existing file with a path that differs from its own as a string."""


def alias(path: str, kind: str) -> str:
    """Another path of the existing file ``path`` (same base name), made in a new folder beside its own.

    Args:
        path: An existing file.
        kind: One of :data:`ALIAS_KINDS`.

    Returns:
        ``<new folder>/linked/<name>`` where ``linked`` links to the file's folder; a hard link
        ``<new folder>/<name>``; ``<folder>/sub/../<name>``; or ``<new folder>/deep/../<name>`` where
        ``deep`` links to ``<folder>/sub`` (so :func:`os.path.abspath` names a file that does not exist,
        while opening the path opens the input).
    """
    folder, name = os.path.split(os.path.abspath(path))
    beside = tempfile.mkdtemp(prefix="alias-", dir=os.path.dirname(folder))
    sub = os.path.join(folder, "sub")
    if kind == "symlinked folder":
        os.symlink(folder, os.path.join(beside, "linked"))
        return os.path.join(beside, "linked", name)
    if kind == "hard link":
        os.link(path, os.path.join(beside, name))
        return os.path.join(beside, name)
    os.makedirs(sub, exist_ok=True)
    if kind == "dot-dot":
        return os.path.join(sub, "..", name)
    if kind == "dot-dot out of a symlinked folder":
        os.symlink(sub, os.path.join(beside, "deep"))
        return os.path.join(beside, "deep", "..", name)
    raise ValueError(f"unknown alias kind {kind!r}; use one of {ALIAS_KINDS}")


def snapshot(folder: str) -> dict[str, bytes]:
    """Every file directly in ``folder`` with its bytes: what a refused run must leave exactly as it was."""
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                files[name] = handle.read()
    return files


def assert_refused_and_unchanged(run: Callable[[], object], input_path: str, error: type[BaseException]) -> str:
    """Run a command whose output names ``input_path``; it must raise ``error`` and leave the input's folder as it was.

    Returns:
        The error's message (for the caller to check that it speaks of the input).
    """
    import pytest

    folder = os.path.dirname(os.path.abspath(input_path))
    before = snapshot(folder)
    assert os.path.isfile(input_path)
    with pytest.raises(error) as raised:
        run()
    assert snapshot(folder) == before, "the refused run changed the input's folder"
    return str(raised.value)


def refused_case(cases: dict[str, Callable], case: str, kind: str, folder: str, error: type[BaseException]) -> str:
    """Make ``cases[case]``'s inputs in a fresh ``folder``, run it with its output given as an input the ``kind`` way,
    and return the refusal's message (the input's folder unchanged)."""
    os.makedirs(folder)
    target, run = cases[case](folder, kind)
    return assert_refused_and_unchanged(run, target, error)
