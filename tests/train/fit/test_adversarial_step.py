"""The adversarial step's gradients go where Sec. 4.4 sends them (issue 23, bug 2).

The adversarial term reaches the segmentation network only through the soft argmax (Eq. 3): logits
detached before it leave the network untouched by the discriminator (a probe's adversarial
gradient went from 9.6 to 0.0) while every training test passed, since the label loss alone still
trains. So the label loss is made zero here (every coarse label is nodata, 255) and the
adversarial term alone must move the network; and the discriminator's own steps must never reach
it (its input is the network's detached prediction).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import scene
from train_helpers import FACTOR, synthetic_chip, write_dataset

from low2high.models.discriminator import Discriminator
from low2high.models.unet import UNet, UNetConfig
from low2high.train.data.exemplars import ExemplarSource
from low2high.train.fit.config import FitConfig
from low2high.train.fit.steps import AdversarialSettings, AdversarialStep, label_loss

CROP = 32  # the discriminator's input side (a power of two)
SIDE = 64


@pytest.fixture(scope="module")
def exemplars(tmp_path_factory) -> ExemplarSource:
    """Fine label crops held in memory (a raster source would keep a GDAL dataset open past QGIS's exit)."""
    folder = write_dataset(str(tmp_path_factory.mktemp("exemplars")), [synthetic_chip("held-out", 4, SIDE)])
    return ExemplarSource.from_dataset(folder, ["held-out"], crop=CROP)


def _batch() -> dict[str, torch.Tensor]:
    """Two normalised images whose coarse labels are all nodata: the label loss is exactly zero."""
    pixels, _ = scene(SIDE, SIDE, seed=5)
    image = torch.from_numpy((pixels / 255.0 - 0.45) / 0.2).float()
    coarse = torch.full((2, SIDE // FACTOR, SIDE // FACTOR), 255, dtype=torch.int64)
    return {"image": torch.stack([image, image.flip(-1)]), "coarse": coarse}


def _step(exemplars: ExemplarSource, weight: float, d_steps: int, g_lr: float = 1e-2
          ) -> tuple[AdversarialStep, torch.nn.Module, torch.nn.Module]:
    """An agg+adv step with fit's defaults for tau and the blur (the settings the paper uses)."""
    torch.manual_seed(0)
    generator = UNet(UNetConfig(in_channels=4, num_classes=4, width=8))
    discriminator = Discriminator(image_size=CROP)
    defaults = FitConfig(dataset="unused", output="unused")
    settings = AdversarialSettings(weight, defaults.tau, defaults.blur_kernel, defaults.blur_sigma, d_steps, CROP,
                                   seed=0)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=defaults.d_lr)
    step = AdversarialStep(generator, discriminator, torch.optim.SGD(generator.parameters(), lr=g_lr), d_optimizer,
                           label_loss("agg+adv", FACTOR), exemplars, settings, torch.device("cpu"), amp=False)
    return step, generator, discriminator


def _weights(network: torch.nn.Module) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in network.parameters()]


def test_the_adversarial_term_alone_moves_the_segmentation_network(exemplars):
    step, generator, _ = _step(exemplars, weight=1.0, d_steps=1)
    before = _weights(generator)
    logged = step(_batch(), 0)
    assert float(logged["label"]) == 0.0 and float(logged["g_adv"]) != 0.0
    gradient = sum(float(parameter.grad.abs().sum()) for parameter in generator.parameters()
                   if parameter.grad is not None)
    assert gradient > 1e-3, "no adversarial gradient reached the segmentation network"
    assert any(not torch.equal(old, new) for old, new in zip(before, generator.parameters()))


def test_the_discriminator_steps_never_reach_the_segmentation_network(exemplars):
    """Two D steps per G step: the network's parameters get a gradient once (the G step), and with the
    adversarial weight at zero (label loss zero too) they do not change at all, while D learns."""
    step, generator, discriminator = _step(exemplars, weight=0.0, d_steps=2, g_lr=1.0)
    passes = [0 for _ in generator.parameters()]

    def counter(index: int):
        def count(gradient: torch.Tensor) -> None:
            passes[index] += 1
        return count

    for index, parameter in enumerate(generator.parameters()):
        parameter.register_hook(counter(index))
    generator_before, discriminator_before = _weights(generator), _weights(discriminator)
    step(_batch(), 0)
    assert set(passes) == {1}, "a discriminator step sent a gradient into the segmentation network"
    assert all(float(parameter.grad.abs().max()) == 0.0 for parameter in generator.parameters())
    assert all(torch.equal(old, new) for old, new in zip(generator_before, generator.parameters()))
    assert any(not torch.equal(old, new) for old, new in zip(discriminator_before, discriminator.parameters()))


def test_the_step_is_reproducible(exemplars):
    """The two tests above rest on fixed draws: the same seed gives the same logged figures."""
    first = _step(exemplars, weight=1.0, d_steps=1)[0](_batch(), 3)
    second = _step(exemplars, weight=1.0, d_steps=1)[0](_batch(), 3)
    assert {key: float(value) for key, value in first.items()} == {key: float(value) for key, value in second.items()}
    assert np.isfinite([float(value) for value in first.values()]).all()
