"""Publishing a fine-tuned model: both files or none, and what killed runs left beside it is swept."""
from __future__ import annotations

import os
import time

from helpers import make_model

from low2high.low2high_plugin.progress import SilentProgress
from low2high.models.checkpoint import load_checkpoint
from low2high.train.finetune.outputs import publish_model


def test_a_killed_runs_hidden_files_are_swept_and_the_pair_is_published(tmp_path):
    loaded = load_checkpoint(make_model(str(tmp_path / "base.pt")))
    network = loaded.build_model()
    stale = [tmp_path / ".mine.pt.0123abcd.partial.pt", tmp_path / ".mine.pt.0123abcd.partial.onnx"]
    for path in stale:
        path.write_bytes(b"half a model")
        os.utime(path, (time.time() - 2 * 3600,) * 2)  # a run that died two hours ago, without its lock
    someone_elses = tmp_path / ".other.pt.0123abcd.partial.pt"
    someone_elses.write_bytes(b"not ours to judge")
    os.utime(someone_elses, (time.time() - 2 * 3600,) * 2)

    onnx = publish_model(network, loaded.card, str(tmp_path / "mine.pt"), True, {}, SilentProgress())

    assert onnx == str(tmp_path / "mine.onnx") and os.path.exists(onnx)
    assert load_checkpoint(str(tmp_path / "mine.pt")).card == loaded.card
    assert not any(path.exists() for path in stale)
    assert someone_elses.exists()  # only the files of the output being written are swept
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".")) == [someone_elses.name]
