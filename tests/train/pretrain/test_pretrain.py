"""``pretrain``: MAE runs and resumes, writes encoder.pt; ``fit --init`` takes it and refuses misfits."""
import os

import pytest
import torch
from train_helpers import fit_settings

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.models.unet import UNet, UNetConfig
from low2high.train.data.info import read_dataset_info
from low2high.train.fit.config import FitConfig
from low2high.train.fit.model_setup import initialise
from low2high.train.fit.task import fit
from low2high.train.pretrain.config import PretrainConfig
from low2high.train.pretrain.encoder_file import read_model_file
from low2high.train.pretrain.task import pretrain


def pretrain_settings(dataset, output, **changes):
    settings = dict(dataset=dataset, output=output, epochs=1, batch_size=4, width=8, image_size=64, patch_size=16,
                    embed_dim=32, depth=1, num_heads=4, decoder_dim=32, decoder_depth=1, progress=False, examples=2)
    settings.update(changes)
    return settings


@pytest.fixture(scope="module")
def encoder(chip_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain") / "run"
    result = pretrain(PretrainConfig(**pretrain_settings(chip_dataset, str(folder), epochs=2)))
    return result


def test_pretraining_writes_an_encoder_curves_and_a_reconstruction_figure(encoder):
    import matplotlib.image

    assert len(encoder.history) == 2 and encoder.history[-1]["val_loss"] > 0
    payload = read_model_file(encoder.encoder_path)
    assert payload["format"] == "low2high.encoder" and payload["width"] == 8 and payload["in_channels"] == 4
    assert payload["band_names"] == ["red", "green", "blue", "nir"] and len(payload["mean"]) == 4
    assert set(payload["state_dict"]) == set(UNet(UNetConfig(4, 4, 8)).encoder.state_dict())
    picture = matplotlib.image.imread(os.path.join(encoder.folder, "reconstruction.png"))
    assert picture.shape[0] > 300 and picture[..., :3].std() > 0.05
    assert os.path.exists(os.path.join(encoder.folder, "curves.png"))


def test_pretraining_resumes_bitwise(chip_dataset, tmp_path):
    settings = pretrain_settings(chip_dataset, str(tmp_path / "resumed"), steps_per_epoch=2, val_splits=[])
    pretrain(PretrainConfig(**{**settings, "epochs": 1}))
    pretrain(PretrainConfig(**{**settings, "epochs": 2}))
    pretrain(PretrainConfig(**{**settings, "output": str(tmp_path / "straight"), "epochs": 2}))
    a, b = (torch.load(tmp_path / name / "encoder.pt", weights_only=True)["state_dict"]
            for name in ("resumed", "straight"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_fit_starts_from_the_pretrained_encoder(encoder, chip_dataset, tmp_path):
    info = read_dataset_info(chip_dataset)
    model = UNet(UNetConfig(4, 4, 8))
    assert "pretrained encoder" in initialise(model, encoder.encoder_path, info, SilentProgress())
    weights = read_model_file(encoder.encoder_path)["state_dict"]
    assert all(torch.equal(model.encoder.state_dict()[key], weights[key]) for key in weights)
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="agg+adv",
                                          init=encoder.encoder_path)))
    from low2high.models.checkpoint import load_checkpoint

    assert "encoder.pt" in load_checkpoint(result.best_path).card.training["init"]


def test_an_init_that_does_not_fit_is_refused(encoder, chip_dataset, tmp_path):
    with pytest.raises(Low2HighError, match="width 8 but the U-Net has width 16.*--width 8"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "a"), mode="agg", width=16,
                                     init=encoder.encoder_path)))
    with pytest.raises(Low2HighError, match="pixel mode trains a per-pixel MLP"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "b"), mode="pixel", init=encoder.encoder_path)))
    pixel = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "c"), mode="pixel")))
    with pytest.raises(Low2HighError, match="is a pixel-mlp model but this mode trains a unet-resnet18"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "d"), mode="agg", init=pixel.best_path)))
    payload = read_model_file(encoder.encoder_path)
    payload["band_names"] = ["blue", "green", "red", "nir"]
    torch.save(payload, tmp_path / "bgr.pt")
    with pytest.raises(Low2HighError, match="trained on the bands blue, green, red, nir"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "e"), mode="agg", init=str(tmp_path / "bgr.pt"))))
    torch.save({"weights": torch.ones(3)}, tmp_path / "foreign.pt")
    with pytest.raises(Low2HighError, match="neither a pretrained encoder"):
        fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "f"), mode="agg", init=str(tmp_path / "foreign.pt"))))
