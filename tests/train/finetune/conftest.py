"""Fixtures of the fine-tuning tests: the tiny scene and fast settings."""
from __future__ import annotations

import os

import pytest
from finetune_helpers import make_tune_scene


@pytest.fixture(scope="session")
def tune_scene(tmp_path_factory):
    """Image (128 px), its NLCD-coded labels on an 8 m grid, a tiny base model, and an area over most of it."""
    return make_tune_scene(str(tmp_path_factory.mktemp("finetune_scene")))


@pytest.fixture
def settings(tune_scene, tmp_path):
    """Fast fine-tuning settings (a few steps of 64-px chips) writing into the test's folder."""
    return dict(image=tune_scene["image"], labels=tune_scene["labels"], model=tune_scene["model"],
                areas=list(tune_scene["areas"]), output=os.path.join(str(tmp_path), "tuned.pt"), steps=6,
                batch_size=2, chip_blocks=8, eval_every=3, log_every=2, exemplar_crop=32, onnx=False, device="cpu")
