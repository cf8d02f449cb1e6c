"""Give the C heap's free pages back to the system after each forward pass.

A pass allocates and frees a few hundred MB of activations in sizes from kilobytes to tens of
megabytes, on the model threads while the reader and writer threads allocate their own arrays.
glibc keeps freed memory in each thread's arena, and the holes left between live blocks do not
always fit the next pass's sizes, so the heap, and the process's resident memory, grew with the
number of tiles (width-64 U-Net, bf16, two passes at once: peak RSS 979 MB at 4 Mpx, 1233 MB at
16 Mpx). ``malloc_trim(0)`` returns every whole free page of every arena to the system without
changing how the allocator works (the plugin is a guest in QGIS's process, whose allocator
settings it leaves alone). Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any, Optional


@lru_cache(maxsize=1)
def _glibc() -> Optional[Any]:
    name = ctypes.util.find_library("c")
    try:
        library = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return library if library is not None and hasattr(library, "malloc_trim") else None


def release_free_memory() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; a no-op elsewhere)."""
    library = _glibc()
    if library is not None:
        library.malloc_trim(0)
