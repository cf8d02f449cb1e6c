"""Output checks made before any work: under a file, onto an input, wrong extension, read-only."""
import os

import pytest

from low2high.low2high_plugin.errors import Low2HighError
from low2high.train.cli import main
from low2high.train.outputs import check_output_file, check_writable_folder


def test_outputs_that_cannot_be_written_are_named(tmp_path):
    (tmp_path / "file").write_text("a file")
    with pytest.raises(Low2HighError, match=r"cannot be created: '.*file' is a file; choose another path"):
        check_writable_folder(str(tmp_path / "file" / "run"), "output folder")
    (tmp_path / "e.json").mkdir()
    with pytest.raises(Low2HighError, match=r"--output-json '.*e.json' is a folder; give a file name"):
        check_output_file(str(tmp_path / "e.json"), "--output-json", (".json",))
    with pytest.raises(Low2HighError, match=r"is the input file itself, which writing would destroy"):
        check_output_file(str(tmp_path / "file"), "--output", (), [str(tmp_path / "file")])
    assert check_output_file(str(tmp_path / "new" / "e.json"), "--output-json", (".json",)) == \
        str(tmp_path / "new" / "e.json")  # a missing folder is created when writing
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_folder_is_named(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(Low2HighError, match="is not writable; choose a folder you can write to"):
        check_output_file(str(tmp_path / "ro" / "e.json"), "--output-json", (".json",))


def test_build_dataset_under_a_file_is_refused_before_reading(tmp_path, capsys):
    (tmp_path / "file").write_text("a file")
    assert main(["build-dataset", "--image", "i.tif", "--fine-labels", "f.tif", "--coarse-labels", "c.tif",
                 "--output", str(tmp_path / "file" / "ds")]) == 2
    assert "is a file; choose another path" in capsys.readouterr().err
