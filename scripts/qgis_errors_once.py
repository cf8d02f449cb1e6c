"""Pass qgis_process's stderr on with each failed algorithm's message once instead of three times.

QGIS 3.22's qgis_process prints every message of its message log at level Critical to stderr,
and a failed algorithm's message is logged twice around the ``ERROR:`` line its console
feedback prints (once by ``QgsProcessingAlgorithm::run``, once by the base
``QgsProcessingFeedback::reportError``): "<message>", "ERROR:<tab><message>", "<message>", for
every algorithm of every plugin (with ``--json``, the two copies alone). ``scripts/qgis_process``
sends stderr through this filter, which drops a line that repeats the line (or the ``ERROR:``
line's message) just before it and passes every other line on unchanged. A line is held back
only while it may be the first copy: until the next line, or for a moment when none comes, so
a warning is never delayed noticeably.

Ctrl-C is ignored here (the shell starts this filter with SIGINT ignored): qgis_process
handles it by cancelling, and this filter ends when qgis_process closes stderr.
"""
from __future__ import annotations

import os
import select
import sys

ERROR = b"ERROR:\t"
HOLD_S = 0.3  # qgis_process writes the copies back to back; a line alone for this long is not one


def main() -> int:
    source = sys.stdin.buffer
    out = sys.stdout.buffer
    held: bytes | None = None  # a line not written yet: it may be the first copy of an ERROR line's message
    last: bytes | None = None  # the line (or ERROR line's message) written last: a copy of it is dropped
    pending = b""
    while True:
        if held is not None and not select.select([source], [], [], HOLD_S)[0]:
            out.write(held)
            out.flush()
            held, last = None, held
        chunk = os.read(source.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for body in lines:
            line = body + b"\n"
            if body.startswith(ERROR):
                message = body[len(ERROR):] + b"\n"
                if held is not None and held != message:
                    out.write(held)
                held, last = None, message
                out.write(line)
            elif line != (held if held is not None else last):  # a copy of the line before it is dropped
                if held is not None:
                    out.write(held)
                    last = held
                held = line
        out.flush()
    for rest in (held, pending):
        if rest:
            out.write(rest)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
