"""A run's outputs appear together or not at all, and what a killed run left is swept by the next writer.

The kill -9 cases run a real child process that kills itself while writing, so the leftovers are
exactly what a crash leaves (files, and a lock file whose lock died with its process).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from low2high.core import publication as publication_module
from low2high.core.files import atomic_write_text
from low2high.core.publication import Publication, PublishError
from low2high.core.work_files import UNLOCKED_STALE_SECONDS, held, work_stem


def _killed_while(folder: str, code: str) -> list[str]:
    """Run ``code`` (with ``folder`` and ``die()``) in a child that calls ``die()`` (kill -9 itself) midway;
    returns the hidden files it left in ``folder``."""
    script = textwrap.dedent("""
        import os, signal, sys
        folder = sys.argv[1]
        def die():
            os.kill(os.getpid(), signal.SIGKILL)
    """) + textwrap.dedent(code)
    completed = subprocess.run([sys.executable, "-c", script, folder], capture_output=True, text=True, timeout=120)
    assert completed.returncode == -9, completed.stderr
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def _hidden(folder: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_a_raster_killed_mid_write_is_swept_by_a_run_writing_another_name(folder):
    left = _killed_while(folder, """
        from low2high.engine.geo.raster_io import atomic_output
        with atomic_output(os.path.join(folder, "a.tif")) as temporary:
            open(temporary, "wb").write(b"half a map")
            die()
    """)
    assert left and all(name.startswith(".a.tif.") for name in left) and any(name.endswith(".lock") for name in left)
    atomic_write_text(os.path.join(folder, "b.txt"), "another output in the same folder")
    assert _hidden(folder) == [] and sorted(os.listdir(folder)) == ["b.txt"]


def test_a_model_cache_entry_killed_mid_build_is_swept_by_the_next_entry(folder):
    left = _killed_while(folder, """
        from low2high.engine.inference.model_cache import cached_file
        def build(path):
            open(path, "wb").write(b"half an int8 model")
            die()
        cached_file("int8", ".onnx", {"model": "a"}, build, folder)
    """)
    assert any(name.startswith(".int8-") and name.endswith(".onnx") for name in left), left
    from low2high.engine.inference.model_cache import cached_file

    cached_file("int8", ".onnx", {"model": "b"}, lambda path: open(path, "wb").write(b"whole"), folder)
    assert _hidden(folder) == []


def test_a_checkpoint_killed_inside_a_publication_leaves_only_its_group_and_is_swept(folder):
    """The nested atomic write once left ``..m.pt.<hex>.partial.pt.<rand>.partial``, which nothing swept."""
    left = _killed_while(folder, """
        from low2high.core.files import atomic_write
        from low2high.core.publication import Publication, PublishError
        with Publication() as publication:
            hidden = publication.stage(os.path.join(folder, "m.pt"))
            atomic_write(hidden, lambda stream: (stream.write(b"half a checkpoint"), stream.flush(), die()))
    """)
    assert left and all(name.startswith(".m.pt.") and not name.startswith("..") for name in left), left
    atomic_write_text(os.path.join(folder, "other.json"), "{}")
    assert _hidden(folder) == []


def test_leftovers_of_older_versions_are_swept_once_an_hour_old(folder):
    legacy = [".m.pt.0a1b2c3d.partial.pt", "..m.pt.0a1b2c3d.partial.pt.k2_x9qzp.partial",
              ".int8-4f3e2d1c0b.onnx.ab_cd9ef.partial.onnx", ".metrics.csv.x8y7z6w5.partial"]
    for name in legacy:
        path = os.path.join(folder, name)
        open(path, "wb").close()
        os.utime(path, (time.time() - UNLOCKED_STALE_SECONDS - 60,) * 2)
    recent = os.path.join(folder, ".n.pt.1a2b3c4d.partial.pt")  # maybe an older Low2High still writing it
    open(recent, "wb").close()
    atomic_write_text(os.path.join(folder, "other.json"), "{}")
    assert _hidden(folder) == [os.path.basename(recent)]


def test_a_live_writers_files_stay(folder):
    live = work_stem(folder, "busy.tif", "partial")
    with held(live):
        open(live + ".tif", "wb").close()
        atomic_write_text(os.path.join(folder, "other.json"), "{}")
        assert os.path.exists(live + ".tif")


def test_a_rename_that_fails_midway_puts_every_previous_file_back(folder, monkeypatch):
    for name in ("a.csv", "b.html"):
        atomic_write_text(os.path.join(folder, name), f"previous {name}")
    move = publication_module._move
    calls = []

    def failing_second(*args):
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return move(*args)

    monkeypatch.setattr(publication_module, "_move", failing_second)
    with pytest.raises(PublishError, match="No space left"):
        with Publication() as publication:
            for name in ("a.csv", "b.html"):
                atomic_write_text(publication.stage(os.path.join(folder, name)), f"new {name}")
    for name in ("a.csv", "b.html"):
        assert open(os.path.join(folder, name), encoding="utf-8").read() == f"previous {name}"
    assert _hidden(folder) == []


def test_an_error_while_writing_publishes_nothing_and_a_success_publishes_all(folder):
    with pytest.raises(RuntimeError):
        with Publication() as publication:
            atomic_write_text(publication.stage(os.path.join(folder, "a.csv")), "a")
            raise RuntimeError("the second output failed")
    assert os.listdir(folder) == []
    with Publication() as publication:
        for name in ("a.csv", "b.html"):
            atomic_write_text(publication.stage(os.path.join(folder, name)), name)
    assert sorted(os.listdir(folder)) == ["a.csv", "b.html"]


def test_a_destination_that_became_a_folder_is_one_sentence_and_the_first_output_is_put_back(folder):
    """A real refusal by the file system midway through the renames (another program made a folder of
    that name meanwhile): the output already renamed goes back to its previous content."""
    table, report = os.path.join(folder, "a.csv"), os.path.join(folder, "b.html")
    atomic_write_text(table, "previous table")
    with pytest.raises(PublishError) as raised:
        with Publication() as publication:
            for path in (table, report):
                atomic_write_text(publication.stage(path), "new")
            os.mkdir(report)
    sentence = str(raised.value)
    assert sentence.startswith(f"Could not put the output {report} in place (")
    assert sentence.endswith("(a folder now has that name); nothing of this run was published and earlier files are as "
                             "they were. Move that folder away or choose another name for the output, then run again.")
    assert open(table, encoding="utf-8").read() == "previous table"
    assert os.path.isdir(report) and os.listdir(report) == [] and _hidden(folder) == []


def test_disk_full_on_the_second_rename_names_the_output_and_what_to_do(folder, monkeypatch):
    """ENOSPC raised by the OS call itself (os.replace), on the second output's rename only."""
    table, report = os.path.join(folder, "a.csv"), os.path.join(folder, "b.html")
    replace = os.replace

    def disk_full_for_the_report(source, destination, **kwargs):
        if destination == report:
            raise OSError(28, "No space left on device")
        return replace(source, destination, **kwargs)

    monkeypatch.setattr(os, "replace", disk_full_for_the_report)
    with pytest.raises(PublishError) as raised:
        with Publication() as publication:
            for path in (table, report):
                atomic_write_text(publication.stage(path), "new")
    monkeypatch.undo()
    assert str(raised.value) == (f"Could not put the output {report} in place (No space left on device); nothing of "
                                 "this run was published and earlier files are as they were. Free some space on the "
                                 f"disk of {folder} or choose another folder, then run again.")
    assert os.listdir(folder) == []  # the table renamed first was taken back: no half-published run
