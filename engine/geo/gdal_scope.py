"""GDAL's process-wide settings, changed only while Low2High works and restored afterwards.

The plugin is a guest in the user's QGIS: GDAL's error mode (exceptions or return codes) and its
block-cache size are shared by every plugin in the process. The engine needs GDAL errors as
exceptions (to turn them into sentences) and a small block cache (so memory does not grow with
the raster while streaming), so :func:`gdal_session` turns both on when the first Low2High
operation starts and puts back what it found when the last one ends. The count makes two
overlapping runs (Processing runs algorithms in background threads) correct: the first run to
finish does not pull the settings from under the other.
"""
from __future__ import annotations

import functools
import inspect
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

from osgeo import gdal, ogr, osr

#: GDAL block cache while Low2High streams a raster: enough for a strip of output blocks and the
#: input blocks tiles share, small enough that memory does not grow with the raster.
STREAMING_CACHE_BYTES = 64 * 1024 * 1024

_lock = threading.Lock()
_depth = 0
_saved: Optional[dict[str, Any]] = None

F = TypeVar("F", bound=Callable[..., Any])


def _enter() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = {"gdal": gdal.GetUseExceptions(), "ogr": ogr.GetUseExceptions(),
                      "osr": osr.GetUseExceptions(), "cache": gdal.GetCacheMax()}
            for module in (gdal, ogr, osr):
                if not module.GetUseExceptions():
                    module.UseExceptions()
            gdal.SetCacheMax(min(_saved["cache"], STREAMING_CACHE_BYTES))
        _depth += 1


def _exit() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            # GDAL keeps a stack of error handlers: undo in the reverse order of _enter.
            for name, module in (("osr", osr), ("ogr", ogr), ("gdal", gdal)):
                if not _saved[name]:
                    module.DontUseExceptions()
            gdal.SetCacheMax(_saved["cache"])
            _saved = None


@contextmanager
def gdal_session() -> Iterator[None]:
    """GDAL errors raise and the block cache is capped inside; both restored when the last session ends."""
    _enter()
    try:
        yield
    finally:
        _exit()


def with_gdal(function: F) -> F:
    """Run ``function`` inside :func:`gdal_session` (cheap when already inside one).

    A generator function (e.g. under ``@contextmanager``) keeps the session until it finishes.
    """
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any, **kwargs: Any) -> Any:
            with gdal_session():
                yield from function(*args, **kwargs)

        return generator  # type: ignore[return-value]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gdal_session():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
