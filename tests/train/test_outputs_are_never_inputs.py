"""No headless command writes a file onto one of its inputs, however the user names it (issue 23, bug 1).

Each file a command of ``python -m low2high.train`` writes is given as one of the files it reads,
reached through a linked folder, a hard link or a ``..`` path: the command must stop with its
error sentence (exit status 2) before any work, and the input's folder must stay byte for byte as
it was. The folder-writing commands (build-dataset, pretrain, fit) write fixed names of their own
into a run folder and are not concerned.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from typing import Callable

import numpy as np
import pytest
from aliases import ALIAS_KINDS, alias, assert_refused_and_unchanged, refused_case
from finetune_helpers import make_tune_scene
from helpers import make_model, make_raster
from train_helpers import synthetic_chip, write_dataset

from low2high.train.cli import main
from low2high.train.data.chips import DATASET_FILE, INDEX_FILE


class CommandFailed(Exception):
    """A command's non-zero exit status, with what it printed on stderr."""


def command(*argv: str) -> Callable[[], None]:
    """Run ``python -m low2high.train ARGV`` in this process; a failure raises :class:`CommandFailed`."""
    def run() -> None:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = main(list(argv))
        if code != 0:
            raise CommandFailed(f"exit {code}: {stderr.getvalue()}")
    return run


def _dataset(folder: str) -> str:
    return write_dataset(os.path.join(folder, "data"), [synthetic_chip("test", seed) for seed in range(2)])


def evaluate_json_onto_the_dataset_description(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    dataset, model = _dataset(folder), make_model(os.path.join(folder, "model.pt"))
    target = os.path.join(dataset, DATASET_FILE)
    return target, command("evaluate", "--checkpoint", model, "--dataset", dataset, "--output-json",
                           alias(target, kind))


def evaluate_csv_onto_the_dataset_index(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    dataset, model = _dataset(folder), make_model(os.path.join(folder, "model.pt"))
    target = os.path.join(dataset, INDEX_FILE)
    return target, command("evaluate", "--checkpoint", model, "--dataset", dataset, "--output-csv",
                           alias(target, kind))


def evaluate_json_onto_the_checkpoint(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    dataset, model = _dataset(folder), make_model(os.path.join(folder, "model.json"))  # any name loads
    return model, command("evaluate", "--checkpoint", model, "--dataset", dataset, "--output-json",
                          alias(model, kind))


def export_onto_the_checkpoint(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    model = make_model(os.path.join(folder, "model.onnx"))
    return model, command("export", "--checkpoint", model, "--output", alias(model, kind))


def _prior_labels(folder: str) -> tuple[str, str]:
    fine = make_raster(os.path.join(folder, "lc.tif"), np.full((16, 16), 2, np.uint8))
    coarse = make_raster(os.path.join(folder, "nlcd.tif"), np.array([[21, 41], [41, 24]], np.uint8), pixel_size=8.0)
    return fine, coarse


def coarse_prior_onto_the_coarse_labels(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    fine, coarse = _prior_labels(folder)
    return coarse, command("coarse-prior", "--fine-labels", fine, "--coarse-labels", coarse, "--output",
                           alias(coarse, kind))


def coarse_prior_onto_the_fine_labels(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    fine, coarse = _prior_labels(folder)
    return fine, command("coarse-prior", "--fine-labels", fine, "--coarse-labels", coarse, "--output",
                         alias(fine, kind))


def finetune_onto_the_base_model(folder: str, kind: str) -> tuple[str, Callable[[], None]]:
    scene = make_tune_scene(folder)
    settings = os.path.join(os.path.dirname(folder), "settings.json")  # areas are WKT, which --areas cannot hold
    with open(settings, "w", encoding="utf-8") as handle:
        json.dump({"areas": scene["areas"]}, handle)
    return scene["model"], command("finetune", "--config", settings, "--image", scene["image"], "--labels",
                                   scene["labels"], "--model", scene["model"], "--output", alias(scene["model"], kind),
                                   "--steps", "2", "--device", "cpu")


CASES = {case.__name__: case for case in (
    evaluate_json_onto_the_dataset_description, evaluate_csv_onto_the_dataset_index, evaluate_json_onto_the_checkpoint,
    export_onto_the_checkpoint, coarse_prior_onto_the_coarse_labels, coarse_prior_onto_the_fine_labels,
    finetune_onto_the_base_model)}


@pytest.mark.parametrize("kind", ALIAS_KINDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_file_naming_an_input_another_way_is_refused_and_the_input_kept(case, kind, tmp_path):
    message = refused_case(CASES, case, kind, str(tmp_path / "inputs"), CommandFailed)
    assert message.startswith("exit 2:") and "input" in message, message


@pytest.mark.parametrize("case", ["evaluate_csv_onto_the_dataset_index", "coarse_prior_onto_the_coarse_labels"])
def test_the_input_itself_is_refused_too(case, tmp_path):
    """The plain same path, which these two commands wrote over before (no check at all for them)."""
    folder = str(tmp_path / "inputs")
    os.makedirs(folder)
    target, _ = CASES[case](folder, "dot-dot")
    argv = {"evaluate_csv_onto_the_dataset_index": ["evaluate", "--checkpoint", os.path.join(folder, "model.pt"),
                                                    "--dataset", os.path.dirname(target), "--output-csv", target],
            "coarse_prior_onto_the_coarse_labels": ["coarse-prior", "--fine-labels", os.path.join(folder, "lc.tif"),
                                                    "--coarse-labels", target, "--output", target]}[case]
    assert_refused_and_unchanged(command(*argv), target, CommandFailed)
