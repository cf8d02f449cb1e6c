"""The model cache: keyed by the source's hash and settings, verified on use, rebuilt when bad."""
import json
import os

from low2high.engine.inference.model_cache import cached_file, file_digest


def writer(content, calls):
    def build(path):
        calls.append(path)
        with open(path, "wb") as stream:
            stream.write(content)
    return build


def test_an_entry_is_built_once_then_reused(tmp_path):
    calls = []
    first = cached_file("int8", ".bin", {"source_sha256": "aa"}, writer(b"model", calls), str(tmp_path))
    again = cached_file("int8", ".bin", {"source_sha256": "aa"}, writer(b"model", calls), str(tmp_path))
    assert first.built and not again.built and first.path == again.path and len(calls) == 1
    assert open(first.path, "rb").read() == b"model"
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporary left


def test_other_settings_or_another_model_get_their_own_entry(tmp_path):
    calls = []
    a = cached_file("int8", ".bin", {"source_sha256": "aa", "method": 1}, writer(b"a", calls), str(tmp_path))
    b = cached_file("int8", ".bin", {"source_sha256": "bb", "method": 1}, writer(b"b", calls), str(tmp_path))
    c = cached_file("int8", ".bin", {"source_sha256": "aa", "method": 2}, writer(b"c", calls), str(tmp_path))
    assert len({a.path, b.path, c.path}) == 3 and len(calls) == 3


def test_a_damaged_entry_is_rebuilt_not_trusted(tmp_path):
    calls = []
    entry = cached_file("int8", ".bin", {"k": 1}, writer(b"good", calls), str(tmp_path))
    with open(entry.path, "wb") as stream:
        stream.write(b"bad!")  # same size, other bytes: only the hash can tell
    rebuilt = cached_file("int8", ".bin", {"k": 1}, writer(b"good", calls), str(tmp_path))
    assert rebuilt.built and "damaged" in rebuilt.note and open(rebuilt.path, "rb").read() == b"good"


def test_an_unreadable_or_foreign_manifest_means_a_rebuild(tmp_path):
    calls = []
    entry = cached_file("int8", ".bin", {"k": 1}, writer(b"good", calls), str(tmp_path))
    manifest = os.path.splitext(entry.path)[0] + ".json"
    with open(manifest, "w") as stream:
        stream.write("{not json")
    assert "manifest" in cached_file("int8", ".bin", {"k": 1}, writer(b"good", calls), str(tmp_path)).note
    with open(manifest, "w") as stream:
        json.dump({"settings": {"k": 2}, "sha256": file_digest(entry.path)}, stream)
    assert "other settings" in cached_file("int8", ".bin", {"k": 1}, writer(b"good", calls), str(tmp_path)).note
    assert len(calls) == 3


def test_a_failed_build_leaves_no_entry_and_no_temporary(tmp_path):
    def failing(path):
        with open(path, "wb") as stream:
            stream.write(b"half")
        raise RuntimeError("interrupted")

    try:
        cached_file("int8", ".bin", {"k": 1}, failing, str(tmp_path))
    except RuntimeError:
        pass
    assert os.listdir(tmp_path) == []
