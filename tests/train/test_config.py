"""Config files: a value of the wrong type names its key and the type it must have."""
import argparse

import pytest

from low2high.core.errors import Low2HighError
from low2high.train.config import add_config_arguments, resolve_config
from low2high.train.fit.config import FitConfig


def _resolve(tmp_path, text: str, *flags: str) -> FitConfig:
    (tmp_path / "fit.yaml").write_text(text)
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, FitConfig)
    return resolve_config(FitConfig, parser.parse_args(["--config", str(tmp_path / "fit.yaml"), *flags]))


@pytest.mark.parametrize("line, message", [
    ('epochs: "many"', r"epochs must be a whole number \(got 'many'\)"),
    ("epochs: 2.5", r"epochs must be a whole number \(got 2.5\)"),
    ("progress: maybe", r"progress must be true or false \(got 'maybe'\)"),
    ("lr: fast", r"lr must be a number"),
    ("train_splits: {a: 1}", r"train_splits must be a list of text"),
    ("steps_per_epoch: [1]", r"steps_per_epoch must be a whole number or empty"),
])
def test_a_wrong_typed_value_names_the_key_and_the_type(tmp_path, line, message):
    with pytest.raises(Low2HighError, match=message + r".*correct it in the file or give --"):
        _resolve(tmp_path, line + "\n")


def test_values_of_the_right_kind_are_taken_as_the_flag_would_take_them(tmp_path):
    config = _resolve(tmp_path, 'epochs: "12"\nlr: 1\ntrain_splits: train,val\nsteps_per_epoch: null\n'
                                "progress: no\n", "--batch-size", "3")
    assert (config.epochs, config.lr, config.train_splits, config.steps_per_epoch, config.progress,
            config.batch_size) == (12, 1.0, ["train", "val"], None, False, 3)
    assert isinstance(config.lr, float)


def test_a_boolean_flag_refuses_other_words(capsys):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, FitConfig)
    with pytest.raises(SystemExit):
        parser.parse_args(["--augment", "maybe"])
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "fit.yaml").write_bytes("mode: forêt\n".encode("latin-1"))
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, FitConfig)
    with pytest.raises(Low2HighError, match="cannot be read .*give a UTF-8 YAML or JSON file"):
        resolve_config(FitConfig, parser.parse_args(["--config", str(tmp_path / "fit.yaml")]))
