"""Where a run may write: the one check of every output of every algorithm and command.

A run that writes onto one of its own inputs destroys it (``OUTPUT_PLOT=base.pt`` replaced the
base model with a PNG); one that learns after minutes of work that it cannot write its result
wastes them and, worse, may already have published other outputs. So every destination is
checked here before any work starts, against every input and every other output of the run, and
refused with one sentence that names the parameter and says what to do (the gravest problem first):

* the same file as an input or as another output, however it is spelled (symbolic links, ``..``,
  hard links: :func:`~low2high.core.file_identity.same_file`), letter case where the file system
  ignores it (an existing file is found under the other case; two new outputs differing only in
  case are refused, as Windows and macOS would write one file);
* an extension other than what the run writes (a GeoTIFF named ``map.png``, JSON named ``p.tif``);
* a folder, a read-only file, a folder that is missing (unless the command creates it) or that
  cannot be written in.

Nothing is created by these checks.
"""
from __future__ import annotations

import os
from typing import Literal, Mapping, Optional, Sequence, overload

from .errors import Low2HighError
from .file_identity import same_file

#: What Low2High writes rasters as (GeoTIFF only: colour tables and category names travel with it).
RASTER_EXTENSIONS = (".tif", ".tiff")
NOTHING: Mapping[str, Optional[str]] = {}


@overload
def check_destination(path: Optional[str], parameter: str, extensions: Sequence[str] = (), *,
                      inputs: Mapping[str, Optional[str]] = ..., outputs: Mapping[str, Optional[str]] = ...,
                      required: Literal[True] = True, create_folder: bool = False) -> str: ...


@overload
def check_destination(path: Optional[str], parameter: str, extensions: Sequence[str] = (), *,
                      inputs: Mapping[str, Optional[str]] = ..., outputs: Mapping[str, Optional[str]] = ...,
                      required: bool, create_folder: bool = False) -> Optional[str]: ...


def check_destination(path: Optional[str], parameter: str, extensions: Sequence[str] = (), *,
                      inputs: Mapping[str, Optional[str]] = NOTHING, outputs: Mapping[str, Optional[str]] = NOTHING,
                      required: bool = True, create_folder: bool = False) -> Optional[str]:
    """Check the file ``parameter`` will write; returns its absolute path (None: optional and empty).

    Args:
        path: The file to write, as the user gave it.
        parameter: Its name in messages (``OUTPUT_MAP``, ``--output``).
        extensions: Accepted extensions (lower case, with the dot); empty: any.
        inputs: Every file the run reads, by parameter name; none may be written.
        outputs: The run's other outputs, by parameter name (each checked already).
        required: An empty ``path`` is an error (else it means "not wanted": None).
        create_folder: A missing folder is created when writing (commands) instead of refused
            (algorithms, where a missing folder is a mistyped path).

    Raises:
        Low2HighError: the first problem found, as one sentence.
    """
    if not path:
        if required:
            wanted = f"a {extensions[0]} file" if extensions else "a file"
            raise Low2HighError(f"No {parameter} was given; give the path of {wanted} to write.")
        return None
    target = os.path.abspath(path)
    for name, source in inputs.items():
        if source and same_file(source, path):  # as given: the OS resolves '..' after links, abspath before
            raise Low2HighError(f"{parameter} is the same file as an input, {name} ('{source}'): writing it would "
                                f"overwrite an input, so choose another file name for {parameter}.")
    for name, other in outputs.items():
        if other and (same_file(other, path) or _differ_in_case_only(other, path)):
            raise Low2HighError(f"{parameter} and {name} name the same file ('{path}'); give each output its own "
                                "file name.")
    extension = os.path.splitext(target)[1].lower()
    if extensions and extension not in extensions:
        raise Low2HighError(f"{parameter} must be {_kind(extensions)}, not '{os.path.basename(target)}'; choose a name "
                            f"ending in {extensions[0]}.")
    if os.path.isdir(target):
        raise Low2HighError(f"{parameter} '{path}' is a folder; give a file name.")
    folder = os.path.dirname(target)
    if not create_folder and not os.path.isdir(folder):
        raise Low2HighError(f"The folder of {parameter} does not exist: '{folder}'; create it or choose another "
                            "folder.")
    check_writable_folder(folder, f"folder of {parameter}")
    if os.path.exists(target) and not os.access(target, os.W_OK):
        raise Low2HighError(f"{parameter} '{path}' exists and is read-only; choose another file name or make it "
                            "writable.")
    return target


def check_writable_folder(folder: str, what: str) -> None:
    """Refuse a folder that cannot be created or written in (read-only, or under a file).

    Also the check of commands whose output is a folder (a run folder, a dataset).

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


def _kind(extensions: Sequence[str]) -> str:
    """What a file of these extensions is, for messages ("a GeoTIFF file (.tif or .tiff)", "a .csv file")."""
    listed = " or ".join(extensions)
    return f"a GeoTIFF file ({listed})" if tuple(extensions) == RASTER_EXTENSIONS else f"a {listed} file"


def _differ_in_case_only(a: str, b: str) -> bool:
    """Two new outputs named alike but for letter case: one file where the file system ignores case."""
    return not os.path.exists(a) and not os.path.exists(b) and \
        os.path.realpath(a).lower() == os.path.realpath(b).lower()


def _existing_ancestor(path: str) -> str:
    """The nearest folder at or above ``path`` that exists (where new folders would be made)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder
