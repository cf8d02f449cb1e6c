"""The training modes' table is the one source: the CLI, the benchmark and finetune read it, and no module
tests a mode's name; the properties keep the behaviour each mode had; a new loss is one entry."""
from __future__ import annotations

import ast
import os

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT
from train_helpers import fit_settings

from low2high.train.benchmarks.paper import COARSE_ROWS, NAMES, ORACLE, PRETRAINED, ROWS
from low2high.train.cli import build_parser
from low2high.train.finetune.config import LOSSES, FinetuneConfig
from low2high.train.fit.config import FitConfig
from low2high.train.fit.steps import label_loss
from low2high.train.modes import FINETUNE_LOSSES, MODES, Mode, Network, Target, training_mode, without_prior
from low2high.train.scoring.validation import REFERENCES

#: What every mode did before the table (selection reference, adversarial, prior, network, --logit-adjust):
#: written out here, not read from the table, so a changed entry fails.
BEFORE = {
    "low": ("coarse", False, False, Network.UNET, True),
    "high": ("fine", False, False, Network.UNET, False),
    "agg": ("aggregated", False, False, Network.UNET, False),
    "agg+adv": ("aggregated", True, False, Network.UNET, False),
    "pixel": ("coarse", False, False, Network.PIXEL_MLP, False),
    "agg-dist": ("aggregated", False, True, Network.UNET, False),
    "agg-dist+adv": ("aggregated", True, True, Network.UNET, False),
    "low-dist": ("coarse", False, True, Network.UNET, True),
    "low-dist+adv": ("coarse", True, True, Network.UNET, True),
}
#: finetune's LOSS options in QGIS's enum order: saved graphical models store these numbers.
QGIS_LOSS_ORDER = ("low", "agg", "agg+adv", "agg-dist", "agg-dist+adv", "low-dist", "low-dist+adv")


def _choices(command: str, flag: str) -> tuple[str, ...]:
    parser, _ = build_parser()
    subcommands = next(action for action in parser._actions if action.dest == "command")
    action = next(action for action in subcommands.choices[command]._actions if flag in action.option_strings)
    return tuple(action.choices)


def test_the_cli_the_benchmark_and_finetune_list_the_tables_modes():
    assert _choices("fit", "--mode") == tuple(MODES)
    assert _choices("finetune", "--loss") == LOSSES == FINETUNE_LOSSES == QGIS_LOSS_ORDER
    assert [row for row in ROWS if row not in (ORACLE, PRETRAINED)] == list(MODES)
    assert set(NAMES) == set(ROWS) and NAMES["agg-dist"] == MODES["agg-dist"].title
    assert set(COARSE_ROWS) == {PRETRAINED, *FINETUNE_LOSSES} - {"low"}


def test_each_mode_keeps_what_it_did_and_the_defaults_stay():
    assert set(MODES) == set(BEFORE)
    for name, (selection, adversarial, prior, network, logit_adjustable) in BEFORE.items():
        mode = MODES[name]
        assert (mode.selection, mode.adversarial, mode.needs_prior, mode.network, mode.logit_adjustable) == (
            selection, adversarial, prior, network, logit_adjustable), name
        assert mode.selection in REFERENCES and mode.chip_labels == ("fine" if name == "high" else "coarse")
    assert FitConfig().mode == "agg+adv" and FinetuneConfig().loss == "agg"
    assert [without_prior(MODES[name]).name for name in ("agg-dist", "agg-dist+adv", "low-dist", "low-dist+adv",
                                                          "agg")] == ["agg", "agg+adv", "agg", "agg+adv", "agg"]


def test_unknown_modes_are_refused_by_name(capsys):
    with pytest.raises(ValueError, match="mode must be one of pixel, low, high, agg, agg\\+adv"):
        training_mode("best")
    with pytest.raises(ValueError, match="mode must be one of"):
        FitConfig(mode="agg+ADV")  # a --config file's value: argparse never sees it
    with pytest.raises(SystemExit) as refused:  # a flag: argparse's own refusal, naming the choices
        build_parser()[0].parse_args(["fit", "--mode", "best"])
    assert refused.value.code == 2 and "invalid choice: 'best'" in capsys.readouterr().err


def _mean_aggregated(logits: torch.Tensor, labels) -> torch.Tensor:
    """A loss written for this test: Eq. 1 on each cell's mean logit."""
    from low2high.train.fit.losses import aggregated_cross_entropy

    return aggregated_cross_entropy(logits, labels.coarse(), labels.factor, mean=True)


def test_a_new_loss_is_one_entry_and_its_function(chip_dataset, tmp_path, monkeypatch):
    """Registered in the table only, a mode trains through fit (a real run) with the properties it declares."""
    from low2high.models.checkpoint import load_checkpoint
    from low2high.train.fit.task import fit

    entry = Mode("agg-mean", Target.COARSE, _mean_aggregated, "aggregated", "Agg-Mean", "Eq. 1 on mean logits",
                 adversarial=True)
    monkeypatch.setitem(MODES, entry.name, entry)
    logits = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    batch = {"coarse": torch.randint(0, 4, (2, 2, 2), generator=torch.Generator().manual_seed(1))}
    assert float(label_loss("agg-mean", 8)(logits, batch)) == float(label_loss("agg", 8, True)(logits, batch))
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="agg-mean")))
    assert result.selection == "aggregated" and "train_d_loss" in result.history[0]  # its adversarial term
    assert load_checkpoint(result.best_path).card.training["mode"] == "agg-mean"
    assert np.isfinite(result.history[0]["train_loss"])


# ----- no module tests a mode's name ---------------------------------------------------------------

_STRING_TESTS = {"startswith", "endswith", "removeprefix", "removesuffix", "find", "rfind", "index", "partition",
                 "rpartition", "split", "rsplit"}
_SKIPPED = {"tests", "scripts", ".venv", ".build", ".git", "dist", "out", "build"}
_THE_TABLE = os.path.join("train", "modes.py")


def _text(node: ast.AST) -> list[str]:
    """The string constants of a constant or of a tuple / list / set of them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [text for item in node.elts for text in _text(item)]
    return []


def _part_of_a_name(text: str) -> bool:
    """A mode's name or a piece of one ("+adv", "low-dist", "agg"): what a name test would look for."""
    return len(text) >= 3 and any(text in name for name in MODES)


def mode_name_tests(source: str) -> list[int]:
    """Lines of ``source`` that decide something by a mode's name instead of a property of its mode."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):  # mode == "high", mode in ("low", "pixel"), "+adv" in mode
            operands = [node.left, *node.comparators]
            named = any(text in MODES for operand in operands for text in _text(operand))
            pieces = any(isinstance(op, (ast.In, ast.NotIn)) and _part_of_a_name(text)
                         for op, operand in zip(node.ops, operands) for text in _text(operand))
            if named or pieces:
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _STRING_TESTS:
            if any(_part_of_a_name(text) for argument in node.args for text in _text(argument)):
                lines.append(node.lineno)  # mode.startswith("low-dist"), loss.endswith("+adv")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if sum(text in MODES for text in _text(node)) >= 2:
                lines.append(node.lineno)  # a hand-kept list of modes: DISTRIBUTION_MODES = ("agg-dist", ...)
        elif isinstance(node, ast.MatchValue) and any(text in MODES for text in _text(node.value)):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_scan_sees_the_name_tests_the_table_replaced():
    before = ('if mode.startswith("low-dist"): pass\nif loss.endswith("+adv"): pass\nif mode == "high": pass\n'
              'if mode in ("low", "pixel"): pass\nDISTRIBUTION = ("agg-dist", "low-dist")\nif "+adv" in mode: pass\n'
              'if row == "oracle" or path.endswith(".json") or key.startswith("val_"): pass\n')
    assert mode_name_tests(before) == [1, 2, 3, 4, 5, 6]


def test_no_module_but_the_table_tests_a_mode_name():
    found, scanned = [], 0
    for folder, folders, files in os.walk(REPO_ROOT):
        folders[:] = sorted(name for name in folders if name not in _SKIPPED and not name.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            relative = os.path.relpath(path, REPO_ROOT)
            if name.endswith(".py") and relative != _THE_TABLE:
                scanned += 1
                with open(path, encoding="utf-8") as handle:
                    found += [f"{relative}:{line}" for line in mode_name_tests(handle.read())]
    assert scanned > 100 and not found, found
