"""Two CPU processes under torchrun (Gloo): DDP keeps both ranks' weights identical, rank 0 writes."""
import os
import subprocess
import sys

import torch

from low2high.models.unet import UNet, UNetConfig
from low2high.train.runner.distributed import HASH_ENV, weights_hash


def test_two_processes_end_with_identical_weights(chip_dataset, tmp_path):
    output = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "low2high.train", "fit", "--dataset", chip_dataset, "--output", str(output),
               "--mode", "agg+adv", "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "2", "--width", "8",
               "--crop", "64", "--exemplar-crop", "64", "--progress", "false", "--plot-every", "0", "--examples", "1"]
    environment = {**os.environ, HASH_ENV: "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    hashes = [(output / f"weights_rank{rank}.sha256").read_text().strip() for rank in (0, 1)]
    assert hashes[0] == hashes[1]
    state = torch.load(output / "trainer_state.pt", weights_only=True)
    network = UNet(UNetConfig(4, 4, 8))
    network.load_state_dict(state["task"]["network"])
    assert weights_hash(network) == hashes[0]  # the saved state is what both ranks hold
    assert state["position"]["step"] == 3 and state["history"][0]["chips_per_s"] > 0
    assert sorted(name for name in os.listdir(output) if name.endswith(".pt")) == ["best.pt", "trainer_state.pt"]
    assert "best.pt" in result.stdout  # rank 0's closing line, printed once
    assert result.stdout.count("best epoch") == 1
