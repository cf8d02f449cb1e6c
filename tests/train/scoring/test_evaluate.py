"""``evaluate`` and the Oracle give what a direct confusion-matrix computation gives; ``export`` verifies."""
import csv
import json

import numpy as np
import pytest
import torch
from train_helpers import fit_settings

from low2high.engine.evaluation.metrics import ConfusionMatrix
from low2high.engine.labels.alignment import block_majority
from low2high.models.checkpoint import load_checkpoint
from low2high.models.onnx_card import read_onnx_card
from low2high.train.cli import main
from low2high.train.data.chips import load_chip, read_index
from low2high.train.data.info import read_dataset_info
from low2high.train.fit.config import FitConfig
from low2high.train.fit.export import ExportConfig, export_checkpoint
from low2high.train.fit.task import fit
from low2high.train.scoring.evaluate import evaluate_checkpoint, oracle_metrics


@pytest.fixture(scope="module")
def model(chip_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate") / "run"
    return fit(FitConfig(**fit_settings(chip_dataset, str(folder), mode="agg", epochs=2))).best_path


def _direct_matrices(checkpoint, dataset, split):
    """Predict each chip by hand (96-px chips need no padding) and count with ConfusionMatrix."""
    loaded = load_checkpoint(checkpoint)
    network = loaded.build_model()
    info = read_dataset_info(dataset)
    mean, std = np.array(info.mean)[:, None, None], np.array(info.std)[:, None, None]
    fine, coarse = ConfusionMatrix(), ConfusionMatrix()
    for row in read_index(dataset):
        if row["split"] != split:
            continue
        chip = load_chip(row["path"])
        image = torch.from_numpy(((chip["image"] / 255.0 - mean) / std).astype(np.float32))[None]
        with torch.no_grad():
            logits = network(image)
        prediction = logits[0].argmax(0).numpy().astype(np.uint8)
        fine.update(prediction, chip["fine"])
        coarse.update(block_majority(prediction, info.factor, 255), chip["coarse"])
    return fine.compute(), coarse.compute()


def test_evaluate_equals_a_direct_confusion_matrix(model, chip_dataset):
    evaluation = evaluate_checkpoint(model, chip_dataset, ["test"], ["fine", "coarse"], batch_size=2)
    fine, coarse = _direct_matrices(model, chip_dataset, "test")
    assert np.array_equal(evaluation.metrics["fine"].matrix, fine.matrix)
    assert np.array_equal(evaluation.metrics["coarse"].matrix, coarse.matrix)
    assert evaluation.metrics["fine"].macro_iou == pytest.approx(fine.macro_iou)
    assert evaluation.chips == sum(1 for row in read_index(chip_dataset) if row["split"] == "test")


def test_oracle_is_the_upsampled_coarse_labels_against_fine_labels(chip_dataset):
    metrics = oracle_metrics(chip_dataset, ["test", "val"])
    matrix = np.zeros((4, 4), np.int64)
    for row in read_index(chip_dataset):
        if row["split"] in ("test", "val"):
            chip = load_chip(row["path"])
            upsampled = np.repeat(np.repeat(chip["coarse"], 8, 0), 8, 1)
            kept = (upsampled != 255) & (chip["fine"] != 255)
            np.add.at(matrix, (chip["fine"][kept].astype(int), upsampled[kept].astype(int)), 1)
    assert np.array_equal(metrics.matrix, matrix)
    assert metrics.accuracy == pytest.approx(np.trace(matrix) / matrix.sum())


def test_evaluate_command_prints_a_table_and_writes_json_and_csv(model, chip_dataset, tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", model, "--dataset", chip_dataset, "--splits", "test",
                 "--reference", "fine,coarse", "--output-json", str(tmp_path / "e.json"),
                 "--output-csv", str(tmp_path / "e.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Acc" in printed and "mIoU" in printed and "fine" in printed and "coarse" in printed
    report = json.load(open(tmp_path / "e.json"))[0]
    fine, _ = _direct_matrices(model, chip_dataset, "test")
    assert report["references"]["fine"]["confusion"] == fine.matrix.tolist()
    assert report["references"]["fine"]["macro_iou"] == pytest.approx(fine.macro_iou)
    rows = list(csv.DictReader(open(tmp_path / "e.csv")))
    assert rows[0]["class"] == "all classes" and float(rows[0]["accuracy"]) == pytest.approx(fine.accuracy)
    assert main(["evaluate", "--oracle", "true", "--dataset", chip_dataset, "--splits", "test"]) == 0
    assert "Oracle" in capsys.readouterr().out


def test_export_writes_a_verified_onnx_file(model, tmp_path, capsys):
    path, difference = export_checkpoint(ExportConfig(checkpoint=model, output=str(tmp_path / "m.onnx"), tile_size=64))
    assert difference < 1e-3
    config, card, description = read_onnx_card(path)
    assert card.tile_size == 64 and description["input_size"] == [64, 64] and description["output"] == "probabilities"
    dynamic = ["export", "--checkpoint", model, "--output", str(tmp_path / "d.onnx"), "--dynamic-size", "true",
               "--logits", "true", "--tile-size", "64"]
    assert main(dynamic) == 2  # Deepness cannot load it: asked for only when the file is for Low2High alone
    assert "Deepness cannot load a dynamic-size export" in capsys.readouterr().err
    assert main(dynamic + ["--deepness", "false"]) == 0
    assert "max abs difference" in capsys.readouterr().out
    _, _, dynamic = read_onnx_card(str(tmp_path / "d.onnx"))
    assert dynamic["input_size"] is None and dynamic["output"] == "logits"


def test_export_onto_its_checkpoint_or_to_another_format_is_refused(model, tmp_path, capsys):
    with open(model, "rb") as handle:
        before = handle.read()
    assert main(["export", "--checkpoint", model, "--output", model]) == 2
    assert "--output is the same file as an input, --checkpoint" in capsys.readouterr().err
    assert main(["export", "--checkpoint", model, "--output", str(tmp_path / "m.png")]) == 2
    assert "--output must be a .onnx file, not 'm.png'" in capsys.readouterr().err
    with open(model, "rb") as handle:
        assert handle.read() == before
    assert not (tmp_path / "m.png").exists()


def test_an_unwritable_output_is_refused_before_the_work(model, chip_dataset, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    under_a_file = str(tmp_path / "file" / "out")
    assert main(["export", "--checkpoint", model, "--output", under_a_file + ".onnx"]) == 2
    assert "cannot be created" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", model, "--dataset", chip_dataset, "--splits", "test",
                 "--output-json", under_a_file + ".json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before scoring: no table
    assert captured.err.count("\n") == 1 and "is a file; choose another path" in captured.err
