"""Self-describing checkpoints: round trip, atomic write, and every user-facing error."""

import os
from dataclasses import asdict

import numpy as np
import pytest
import torch

from low2high.models.checkpoint import (
    CheckpointError,
    LoadedCheckpoint,
    ModelCard,
    load_checkpoint,
    read_checkpoint_card,
    save_checkpoint,
)
from low2high.models.unet import UNet, UNetConfig


class NotAWeight:
    """A Python object that ``torch.load(weights_only=True)`` must refuse."""


def make_model(in_channels: int = 4, num_classes: int = 4) -> UNet:
    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=in_channels, num_classes=num_classes, width=8))
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a round trip must carry them
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def make_card(**changes) -> ModelCard:
    values = dict(mean=[0.4, 0.4, 0.35, 0.5], std=[0.2, 0.2, 0.2, 0.25], gsd=1.0,
                  training={"mode": "full", "epochs": 3, "losses": (0.5, 0.25)})
    values.update(changes)
    return ModelCard(**values)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.pt"
    model = make_model()
    save_checkpoint(path, model, make_card(), extra={"step": 10, "ema": torch.ones(2)})
    return path, model


def test_round_trip_reproduces_logits_and_description(saved):
    path, model = saved
    loaded = load_checkpoint(path)
    assert isinstance(loaded, LoadedCheckpoint)
    assert loaded.config == model.config
    assert loaded.card == make_card()
    assert loaded.card.training["losses"] == [0.5, 0.25]
    assert loaded.extra["step"] == 10 and torch.equal(loaded.extra["ema"], torch.ones(2))
    rebuilt = loaded.build_model()
    assert not rebuilt.training
    x = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


def test_file_is_a_plain_weights_only_dict(saved):
    path, model = saved
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "low2high.checkpoint"
    assert payload["format_version"] == 1
    assert payload["architecture"] == "unet-resnet18"
    assert payload["config"] == asdict(model.config)
    assert payload["card"]["class_names"] == ["water", "forest", "field", "impervious"]
    assert set(payload["state_dict"]) == set(model.state_dict())


def test_read_checkpoint_card_without_building(saved):
    path, model = saved
    config, card, extra = read_checkpoint_card(path)
    assert config == model.config and card.gsd == 1.0 and extra["step"] == 10


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint(path, make_model(), make_card())
    before = path.read_bytes()

    def broken_save(obj, stream, *args, **kwargs):
        stream.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, make_model(), make_card(gsd=2.0))
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert os.listdir(path.parent) == ["model.pt"]


def test_save_rejects_card_that_does_not_match_the_network(tmp_path):
    with pytest.raises(CheckpointError, match="bands"):
        save_checkpoint(tmp_path / "m.pt", make_model(in_channels=3), make_card())
    with pytest.raises(CheckpointError, match="classes"):
        save_checkpoint(tmp_path / "m.pt", make_model(num_classes=5), make_card())
    assert not (tmp_path / "m.pt").exists()


def test_save_rejects_unstorable_extra_and_converts_numpy_scalars(tmp_path):
    with pytest.raises(CheckpointError, match="extra"):
        save_checkpoint(tmp_path / "m.pt", make_model(), make_card(), extra={"x": NotAWeight()})
    card = make_card(training={"best_miou": np.float32(0.5), "seed": np.int64(3)})
    save_checkpoint(tmp_path / "m.pt", make_model(), card)
    training = load_checkpoint(tmp_path / "m.pt").card.training
    assert training == {"best_miou": 0.5, "seed": 3} and type(training["seed"]) is int


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(mean=[0.5] * 3), "one mean and one std per band"),
        (dict(std=[0.2, 0.0, 0.2, 0.2]), "greater than 0"),
        (dict(gsd=0), "gsd"),
        (dict(tile_size=500), "multiple of 32"),
        (dict(tile_overlap=512), "tile_overlap"),
        (dict(class_names=["a", "a", "b", "c"]), "duplicates"),
        (dict(training={"f": NotAWeight()}), "training"),
    ],
)
def test_model_card_validation(changes, message):
    with pytest.raises(CheckpointError, match=message):
        make_card(**changes)


def test_model_card_defaults_are_the_merged_naip_setup():
    card = ModelCard()
    assert card.class_names == ["water", "forest", "field", "impervious"]
    assert card.band_names == ["red", "green", "blue", "nir"]
    assert card.mean == [0.0] * 4 and card.std == [1.0] * 4
    assert (card.gsd, card.tile_size, card.tile_overlap) == (1.0, 512, 64)


# ----- every failure a user can meet ------------------------------------------------------


def expect_error(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message
    return message


def test_missing_file(tmp_path):
    expect_error(tmp_path / "nope.pt", "not found", "nope.pt")


def test_folder_instead_of_file(tmp_path):
    expect_error(tmp_path, "is a folder")


def test_empty_file(tmp_path):
    (tmp_path / "e.pt").write_bytes(b"")
    expect_error(tmp_path / "e.pt", "empty")


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    expect_error(path, "damaged or incomplete")


def test_random_bytes(tmp_path):
    path = tmp_path / "r.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    expect_error(path, "not a PyTorch model file")


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    expect_error(path, "not a PyTorch model file")


def test_plain_state_dict(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(make_model().state_dict(), path)
    expect_error(path, "not a Low2High model", "state_dict")


def test_foreign_training_checkpoint(tmp_path):
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": make_model().state_dict(), "epoch": 3}, path)
    expect_error(path, "not a Low2High model", "another program")


def test_pickled_python_object_is_refused(tmp_path):
    path = tmp_path / "obj.pt"
    torch.save({"model": NotAWeight()}, path)
    expect_error(path, "not a Low2High model", "Python objects")


def test_whole_pickled_network_is_refused(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(make_model(), path)
    expect_error(path, "not a Low2High model")


def rewrite(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_newer_format_version(saved):
    path, _ = saved
    rewrite(path, format_version=2)
    expect_error(path, "made by a newer Low2High", "update")


def test_unknown_architecture(saved):
    path, _ = saved
    rewrite(path, architecture="deeplabv3-resnet50")
    expect_error(path, "deeplabv3-resnet50", "cannot build")


def test_other_format_marker(saved):
    path, _ = saved
    rewrite(path, format="something.else")
    expect_error(path, "not a Low2High model")


def test_weights_for_another_number_of_bands(saved, tmp_path):
    path, _ = saved
    other = tmp_path / "three.pt"
    save_checkpoint(other, make_model(in_channels=3), make_card(
        band_names=["red", "green", "blue"], mean=[0.5] * 3, std=[0.2] * 3))
    three_band_weights = torch.load(other, weights_only=True)["state_dict"]
    rewrite(path, state_dict=three_band_weights)
    expect_error(path, "do not match its architecture", "encoder.stem.conv.weight")


def test_missing_weights(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["decoder.head.bias"]
    torch.save(payload, path)
    expect_error(path, "missing", "decoder.head.bias")


def test_card_inconsistent_with_config(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["config"]["num_classes"] = 5
    torch.save(payload, path)
    expect_error(path, "classes")


def test_invalid_card_in_file(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["card"]["std"] = [0.0] * 4
    torch.save(payload, path)
    expect_error(path, "invalid model description", "std")


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
