"""Publishing a run's output files together: all of them complete under their final names, or none.

A run that writes several files (a model and its ``.onnx``, a map and a plot, a CSV table and an
HTML report) must never leave some of them published when it fails or is stopped: a user would
take the new table for the result of a run that never finished, or an old ``.pt`` beside a new
``.onnx`` for one model. So every output is first written to a hidden work file in its own folder
(:mod:`.work_files`: the same file system, so the final rename is atomic, and a lock that lets a
later run sweep what a killed one left), and :meth:`Publication.commit` renames them all into
place only when every one is written:

* a ``check`` given by the caller (e.g. "was the run cancelled?") runs before the first rename
  and after the last, and Ctrl-C / SIGTERM arriving meanwhile are held back
  (:mod:`.signal_shield`), so a stop request between two renames cannot split the outputs;
* each existing destination is kept under a hidden name until the end, and put back when
  anything fails or a stop request arrives: the previous outputs stay as they were;
* a failed or cancelled run removes its work files and touches no destination.

A destination that is itself a work file of a publication in progress (an engine function asked
to write the hidden map of a fine-tuning run) is written in place and left to that outer
publication to rename.
"""
from __future__ import annotations

import errno
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Callable, Optional

from .signal_shield import signals_held
from .work_files import held, is_work_file, sweep_stale, work_stem

Sidecars = Callable[[str], list[str]]
"""Files that travel with a written file (a raster's ``.aux.xml`` and style), given its path."""


def no_sidecars(path: str) -> list[str]:
    return []


@dataclass
class _Staged:
    """One output: where it goes, where it is written meanwhile, and what travels with it."""

    destination: str
    temporary: str
    stem: str  # the work-file group (backups of replaced files are kept under it); "" when in place
    sidecars: Sidecars = no_sidecars

    @property
    def in_place(self) -> bool:
        return not self.stem

    def moves(self) -> list[tuple[str, str]]:
        """(written file, destination) pairs, sidecars first and the main file last: a complete-looking
        file appears only when everything it needs is there. A sidecar not written this time still
        has a pair: the destination's old one belongs to the old file and must go."""
        pairs = list(zip(self.sidecars(self.temporary), self.sidecars(self.destination)))
        return pairs + [(self.temporary, self.destination)]

    def written(self) -> list[str]:
        return [self.temporary] + self.sidecars(self.temporary)


@dataclass
class _Moved:
    destination: str
    backup: Optional[str]  # the previous file, kept until the publication stands
    created: bool  # a new file now lies at ``destination``


class PublishError(OSError):
    """The file system refused to put an output in place (disk full, folder made read-only or
    replaced meanwhile); everything renamed before it was put back. ``str()`` is the whole sentence
    for the user: the output, the reason and what to do.
    """

    def __init__(self, destination: str, error: OSError, kept: list[str]) -> None:
        super().__init__(error.errno, error.strerror)
        folder = os.path.dirname(destination)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            remedy = f"free some space on the disk of {folder} or choose another folder, then run again"
        elif error.errno == errno.EISDIR:
            remedy = "move that folder away or choose another name for the output, then run again"
        else:
            remedy = (f"check that {folder} is writable and that nothing else (a folder, a file open elsewhere) "
                      "holds that name, or choose another folder, then run again")
        outcome = ("nothing of this run was published and earlier files are as they were" if not kept else
                   "nothing of this run was published, but earlier files could not all be put back: they are kept "
                   f"as {', '.join(kept)}")
        self.sentence = (f"Could not put the output {destination} in place ({error.strerror or error}); {outcome}. "
                         f"{remedy[0].upper()}{remedy[1:]}.")
        self.destination = destination

    def __str__(self) -> str:
        return self.sentence


@dataclass
class Publication:
    """Output files written under hidden names and renamed into place together (see the module).

    Use as a context manager: leaving the block normally commits; an exception discards.

    Args:
        check: Called before the first rename and after the last (raise to stop, e.g. when the user
            cancelled); its exception undoes the renames.
        sweep: Remove what killed runs left in each destination folder before writing there (off
            only for writers of thousands of files into one folder, which sweep once themselves).
    """

    check: Optional[Callable[[], None]] = None
    sweep: bool = True
    _staged: dict[str, _Staged] = field(default_factory=dict, init=False, repr=False)
    _locks: ExitStack = field(default_factory=ExitStack, init=False, repr=False)
    _done: bool = field(default=False, init=False, repr=False)

    def stage(self, destination: str | os.PathLike, suffix: Optional[str] = None,
              sidecars: Sidecars = no_sidecars) -> str:
        """The hidden path to write ``destination`` to; missing parent folders are created.

        Args:
            destination: The final file.
            suffix: Ending of the hidden file's name, for writers that choose a format by extension;
                by default the destination's own extension.
            sidecars: Files the writer puts beside the file (moved with it).
        """
        final = os.path.abspath(destination)
        if final in self._staged:
            raise ValueError(f"'{final}' is staged twice in one publication")
        folder, name = os.path.split(final)
        if is_work_file(final):  # the hidden file of an outer publication: already unpublished
            entry = _Staged(final, final, "", sidecars)
        else:
            os.makedirs(folder, exist_ok=True)
            if self.sweep:
                sweep_stale(folder)  # what killed runs left in this folder
            stem = work_stem(folder, name, "partial")
            self._locks.enter_context(held(stem))  # a later run's sweep leaves a live run's files alone
            ending = os.path.splitext(name)[1] if suffix is None else suffix
            entry = _Staged(final, stem + ending, stem, sidecars)
        self._staged[final] = entry
        return entry.temporary

    def drop(self, destination: str | os.PathLike) -> None:
        """Give up one staged output (its writer failed and the run goes on without it): its files go."""
        entry = self._staged.pop(os.path.abspath(destination))
        for path in entry.written():
            _remove(path)

    def staged(self, destination: str | os.PathLike) -> str:
        """The hidden path an earlier :meth:`stage` gave ``destination`` (to read what was written)."""
        return self._staged[os.path.abspath(destination)].temporary

    def __enter__(self) -> "Publication":
        return self

    def __exit__(self, kind: Optional[type[BaseException]], error: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def commit(self) -> None:
        """Rename every staged file into place, or none (see the module); the work files are gone after."""
        if self._done:
            return
        try:
            if self.check is not None:
                self.check()
            outer = [entry for entry in self._staged.values() if not entry.in_place]
            for entry in outer:
                if not os.path.exists(entry.temporary):
                    raise FileNotFoundError(f"nothing was written for '{entry.destination}'")
                _flush(entry.written())
            with signals_held() as deliver:
                moved: list[_Moved] = []
                try:
                    for entry in outer:
                        for index, (written, destination) in enumerate(entry.moves()):
                            try:
                                moved.append(_move(written, destination, f"{entry.stem}.previous-{index}"))
                            except OSError as error:
                                raise PublishError(entry.destination, error, _undo(moved)) from error
                    if self.check is not None:
                        self.check()
                    deliver()  # a stop request that arrived while renaming raises here
                except PublishError:
                    raise
                except BaseException:
                    _undo(moved)
                    raise
                _drop_backups(moved)  # the publication stands; a request arriving now is handed on after
        except BaseException:
            self.discard()
            raise
        self._finish()

    def discard(self) -> None:
        """Remove every work file; no destination is touched."""
        if self._done:
            return
        with signals_held():  # the clean-up finishes even when a second Ctrl-C arrives
            for entry in self._staged.values():
                for path in entry.written():
                    _remove(path)
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self._locks.close()


def _flush(paths: list[str]) -> None:
    """Make written files durable before they are renamed (a crash must not publish empty files)."""
    for path in paths:
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                os.fsync(stream.fileno())


def _move(written: str, destination: str, backup: str) -> _Moved:
    """Put ``written`` at ``destination`` (or remove an old sidecar there), keeping the old file as ``backup``."""
    exists = os.path.lexists(destination)
    if exists and os.path.isdir(destination) and not os.path.islink(destination):
        # A folder made under that name since the run was checked: never moved aside (the fallback
        # below would carry a user's folder off under a hidden name).
        raise IsADirectoryError(errno.EISDIR, "a folder now has that name", destination)
    if not os.path.exists(written):
        if not exists:
            return _Moved(destination, None, False)
        os.replace(destination, backup)  # an old sidecar of the old file
        return _Moved(destination, backup, False)
    if exists:
        try:
            os.link(destination, backup, follow_symlinks=False)  # the destination never goes missing
        except OSError:  # a file system without hard links
            os.replace(destination, backup)
    os.replace(written, destination)
    return _Moved(destination, backup if exists else None, True)


def _undo(moved: list[_Moved]) -> list[str]:
    """Put every previous file back, newest move first; remove what was new.

    Goes on past a step that fails (the disk that refused a rename may refuse more), so that as
    much as possible is as it was; returns the backups it could not put back (kept, not lost).
    """
    kept = []
    for entry in reversed(moved):
        try:
            if entry.backup is not None:
                os.replace(entry.backup, entry.destination)
            elif entry.created:
                _remove(entry.destination)
        except OSError:
            if entry.backup is not None:
                kept.append(entry.backup)
    return kept


def _drop_backups(moved: list[_Moved]) -> None:
    for entry in moved:
        if entry.backup is not None:
            _remove(entry.backup)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
