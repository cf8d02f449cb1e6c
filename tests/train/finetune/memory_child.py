"""Run in its own process by ``test_memory.py``: a small fine-tuning run, then a large one, each with its peak RSS.

The first run brings in everything a run needs whatever its areas (torch, the model, GDAL), so the
growth of the process's high-water mark during the second is what the large areas cost.
"""
from __future__ import annotations

import json
import sys

from low2high.core.progress import SilentProgress
from low2high.train.finetune.config import FinetuneConfig
from low2high.train.finetune.task import finetune


def peak_mb() -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    runs = json.loads(sys.argv[1])
    report: dict[str, object] = {}
    for name in ("small", "large"):
        progress = SilentProgress()
        finetune(FinetuneConfig(**runs[name]), progress)
        report[name] = {"peak_mb": peak_mb(), "log": progress.messages}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
