"""``python -m low2high.train``: every command is registered and explains itself."""
import subprocess
import sys

import pytest

from low2high.train.cli import COMMANDS, main


def test_the_training_commands_are_registered():
    assert {"build-dataset", "pretrain", "fit", "evaluate", "export"} <= set(COMMANDS)


@pytest.mark.parametrize("command, flags", [
    ("fit", ["--mode", "--adv-weight", "--d-lr", "--exemplar-splits", "--exemplar-raster", "--init", "--restart",
             "--tau", "--blur-sigma", "--crop", "--width", "--steps-per-epoch"]),
    ("pretrain", ["--mask-ratio", "--patch-size", "--image-size", "--width", "--splits"]),
    ("evaluate", ["--checkpoint", "--oracle", "--reference", "--regions", "--output-json", "--output-csv"]),
    ("export", ["--checkpoint", "--dynamic-size", "--logits", "--tile-size"]),
])
def test_each_command_has_help(command, flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text, flag
    assert "(default:" in text


def test_fit_help_explains_the_modes_and_the_undocumented_choices(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("agg+adv", "region aggregation", "not in the paper", "paper, Eq. 3", "Sec. 4.6"):
        assert words in text


def test_module_entry_point_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "low2high.train", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for command in ("pretrain", "fit", "evaluate", "export"):
        assert command in result.stdout


def test_a_command_without_torch_says_what_to_install_once(tmp_path):
    """Training modules import torch at their top: a missing torch was an ImportError traceback."""
    script = ("import sys; sys.modules['torch'] = None\n"
              "from low2high.train.cli import main\n"
              "sys.exit(main(sys.argv[1:]))")
    completed = subprocess.run([sys.executable, "-c", script, "fit", "--dataset", str(tmp_path / "data"),
                                "--output", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: The Python package 'torch' is needed to run "
                                                   "'python -m low2high.train fit'")
    assert "pip install" in lines[0] and not (tmp_path / "run").exists()
