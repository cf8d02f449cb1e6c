"""Publishing a fine-tuned model: both files or none, stop requests honoured, and what killed runs left swept."""
from __future__ import annotations

import os
import signal
import time

import pytest
from helpers import make_model

from low2high.core import publication as publication_module
from low2high.core.errors import Cancelled
from low2high.core.progress import SilentProgress
from low2high.core.signals import cancel_on_termination
from low2high.core.work_files import held, work_stem
from low2high.models.checkpoint import load_checkpoint
from low2high.train.finetune.outputs import publish_model


@pytest.fixture
def base(tmp_path):
    """A tiny model to publish, and an existing ``mine.pt`` + ``mine.onnx`` it must not break."""
    loaded = load_checkpoint(make_model(str(tmp_path / "base.pt")))
    (tmp_path / "mine.pt").write_bytes(b"the user's previous model")
    (tmp_path / "mine.onnx").write_bytes(b"the user's previous export")
    return loaded


def _previous_kept(tmp_path) -> None:
    assert (tmp_path / "mine.pt").read_bytes() == b"the user's previous model"
    assert (tmp_path / "mine.onnx").read_bytes() == b"the user's previous export"
    assert sorted(os.listdir(tmp_path)) == ["base.pt", "mine.onnx", "mine.pt"]  # no work file left


def test_a_killed_runs_hidden_files_are_swept_and_the_pair_is_published(tmp_path):
    loaded = load_checkpoint(make_model(str(tmp_path / "base.pt")))
    network = loaded.build_model()
    stale = [tmp_path / ".mine.pt.0123abcd.partial.pt", tmp_path / ".mine.pt.0123abcd.partial.onnx"]
    for path in stale:
        path.write_bytes(b"half a model")
        os.utime(path, (time.time() - 2 * 3600,) * 2)  # a run that died two hours ago, without its lock
    someone_elses = tmp_path / ".other.pt.0123abcd.partial.pt"
    someone_elses.write_bytes(b"a dead run of another output")
    os.utime(someone_elses, (time.time() - 2 * 3600,) * 2)
    live = work_stem(str(tmp_path), "busy.pt", "partial")  # a run writing beside it right now

    with held(live):
        open(live + ".pt", "wb").close()
        onnx = publish_model(network, loaded.card, str(tmp_path / "mine.pt"), True, {}, SilentProgress())
        assert os.path.exists(live + ".pt") and os.path.exists(live + ".lock")  # a live run's files stay

    assert onnx == str(tmp_path / "mine.onnx") and os.path.exists(onnx)
    assert load_checkpoint(str(tmp_path / "mine.pt")).card == loaded.card
    assert not any(path.exists() for path in stale)
    assert not someone_elses.exists()  # a dead run's files go whichever output of the folder it wrote
    assert sorted(name for name in os.listdir(tmp_path) if name.startswith(".")) == [os.path.basename(live) + ".pt"]


def test_the_checkpoint_is_written_inside_its_own_hidden_group(base, tmp_path, monkeypatch):
    """kill -9 while saving must leave only files of the publication's group: a nested atomic write once
    added a second hidden name (``..mine.pt.<hex>.partial.pt.<rand>.partial``) that no sweep recognised."""
    import torch

    seen: list[str] = []
    save = torch.save

    def looking_save(obj, stream, *args, **kwargs):
        seen.extend(name for name in os.listdir(tmp_path) if name.startswith("."))
        return save(obj, stream, *args, **kwargs)

    monkeypatch.setattr(torch, "save", looking_save)
    publish_model(base.build_model(), base.card, str(tmp_path / "mine.pt"), False, {}, SilentProgress())
    assert seen and all(name.startswith(".mine.pt.") and not name.startswith("..") for name in seen), seen
    assert {name.rsplit(".", 1)[-1] for name in seen} == {"pt", "lock"}  # the hidden .pt and its group's lock


def test_ctrl_c_during_the_export_keeps_the_previous_model(base, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("low2high.models.onnx_export.verify_onnx_export", interrupted)
    with pytest.raises(KeyboardInterrupt):
        publish_model(base.build_model(), base.card, str(tmp_path / "mine.pt"), True, {}, SilentProgress())
    _previous_kept(tmp_path)


def _after_first_rename(monkeypatch, then) -> None:
    """Run ``then()`` once the first output is renamed into place, before the second."""
    move = publication_module._move

    def move_then(*args):
        moved = move(*args)
        if moved.created and not getattr(move_then, "done", False):
            move_then.done = True  # type: ignore[attr-defined]
            then()
        return moved

    monkeypatch.setattr(publication_module, "_move", move_then)


def _signal_after_first_rename(monkeypatch, signum: int) -> None:
    """The stop request arrives between the two renames (the real signal, sent to this process)."""
    _after_first_rename(monkeypatch, lambda: os.kill(os.getpid(), signum))


def test_ctrl_c_between_the_renames_puts_the_previous_files_back(base, tmp_path, monkeypatch):
    _signal_after_first_rename(monkeypatch, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        publish_model(base.build_model(), base.card, str(tmp_path / "mine.pt"), True, {}, SilentProgress())
    _previous_kept(tmp_path)


def test_sigterm_between_the_renames_cancels_the_same_way(base, tmp_path, monkeypatch):
    _signal_after_first_rename(monkeypatch, signal.SIGTERM)
    with cancel_on_termination("finetune"), pytest.raises(Cancelled, match="SIGTERM"):
        publish_model(base.build_model(), base.card, str(tmp_path / "mine.pt"), True, {}, SilentProgress())
    _previous_kept(tmp_path)


def test_a_cancel_request_while_renaming_puts_the_previous_files_back(base, tmp_path, monkeypatch):
    """qgis_process turns Ctrl-C into a cancel request (its own handler): asked after the renames too."""
    class CancelledMidway(SilentProgress):
        cancelled = False

        def is_canceled(self) -> bool:
            return self.cancelled

    progress = CancelledMidway()
    _after_first_rename(monkeypatch, lambda: setattr(progress, "cancelled", True))
    with pytest.raises(Cancelled):
        publish_model(base.build_model(), base.card, str(tmp_path / "mine.pt"), True, {}, progress)
    _previous_kept(tmp_path)


def test_ctrl_c_while_the_command_exports_stops_it_and_keeps_the_previous_model(tune_scene, tmp_path, monkeypatch,
                                                                                capsys):
    """``python -m low2high.train finetune``: a real SIGINT during the .onnx export ends with status 130."""
    import json

    from low2high.train.cli import main

    output = tmp_path / "mine.pt"
    output.write_bytes(b"the user's previous model")
    (tmp_path / "mine.onnx").write_bytes(b"the user's previous export")
    settings = tmp_path / "settings.json"  # the areas are WKT, which a flag cannot hold
    settings.write_text(json.dumps({"areas": tune_scene["areas"]}))

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr("low2high.models.onnx_export.verify_onnx_export", interrupted)
    code = main(["finetune", "--config", str(settings), "--image", tune_scene["image"], "--labels",
                 tune_scene["labels"], "--model", tune_scene["model"], "--output", str(output), "--steps", "2",
                 "--batch-size", "2", "--chip-blocks", "8", "--validation-share", "0", "--device", "cpu"])
    assert code == 130 and "stopped by the user" in capsys.readouterr().err
    assert output.read_bytes() == b"the user's previous model"
    assert (tmp_path / "mine.onnx").read_bytes() == b"the user's previous export"
    assert sorted(os.listdir(tmp_path)) == ["mine.onnx", "mine.pt", "settings.json"]
