"""benchmarks.finetune runs for minutes per fine-tuning run: it says how many are done and the time left."""
import os
import re
import subprocess
import sys

import pytest

from low2high.train.benchmarks.finetune import WV


@pytest.mark.skipif(not os.path.isdir(WV), reason="needs ../shared/data/wv_naip_dev")
def test_the_finetune_benchmark_logs_runs_done_and_the_time_left(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "low2high.train.benchmarks.finetune", "--parts", "hand", "--seeds", "0,1",
         "--steps", "1", "--threads", "1", "--work", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    counted = [line.strip() for line in completed.stdout.splitlines() if "fine-tuning runs" in line]
    assert len(counted) == 1 and re.fullmatch(r"1/2 fine-tuning runs, about \d+ (s|min \d+ s) left\.", counted[0])
    written = sorted(name for name in os.listdir(tmp_path) if name.startswith(("results", ".")))
    assert written == ["results_hand_default.json", "results_hand_default.md"]  # published together, nothing hidden
