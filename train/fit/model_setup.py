"""The network a ``fit`` run trains, where its first weights come from, and its model card.

``--init`` accepts two kinds of file: ``encoder.pt`` from ``pretrain`` (the ResNet-18 weights go
into ``UNet.encoder``, the decoder starts fresh, as the paper does after MAE pretraining) or a
Low2High model checkpoint of the same architecture (fine-tuning a trained model). Anything that
cannot fit the network (another architecture, width or band list) is refused with the reason,
since starting from mismatched weights would waste a training run without any error.
"""
from __future__ import annotations

import os
import shlex
import sys
from typing import Any, Sequence

from torch import nn

from ...core.errors import Low2HighError
from ...core.progress import Progress
from ...models.architectures import architecture_of
from ...models.card import ModelCard
from ...models.checkpoint import FORMAT as CHECKPOINT_FORMAT
from ...models.checkpoint import CheckpointError, checkpoint_from_payload
from ...models.config import PixelMLPConfig, UNetConfig
from ...models.pixel import PixelMLP
from ...models.unet import UNet
from ..data.info import DatasetInfo
from ..modes import Mode, Network
from ..pretrain.encoder_file import ENCODER_FORMAT, parse_encoder, read_model_file


def build_segmentation_network(mode: Mode, info: DatasetInfo, width: int, pixel_hidden: int,
                               pixel_layers: int) -> nn.Module:
    """The network ``mode`` trains (the U-Net, or the per-pixel MLP of ``pixel``), sized for the dataset."""
    bands, classes = info.num_bands, len(info.class_names)
    if mode.network is Network.PIXEL_MLP:
        return PixelMLP(PixelMLPConfig(bands, classes, pixel_hidden, pixel_layers))
    return UNet(UNetConfig(bands, classes, width))


def _check_bands(found: Sequence[str], expected: Sequence[str], path: str) -> None:
    if list(found) != list(expected):
        raise Low2HighError(f"'{path}' was trained on the bands {', '.join(found)} but this dataset has "
                            f"{', '.join(expected)}; its weights do not fit this input.")


def initialise(model: nn.Module, path: str, info: DatasetInfo, progress: Progress) -> str:
    """Load the weights of ``path`` (encoder or checkpoint) into ``model``; returns what was loaded.

    Raises:
        Low2HighError: a file that is neither, or one whose architecture, width or bands differ.
    """
    payload = read_model_file(path)
    kind = payload.get("format") if isinstance(payload, dict) else None
    if kind == ENCODER_FORMAT:
        encoder = parse_encoder(payload, path)
        if not isinstance(model, UNet):
            raise Low2HighError(f"'{path}' is a pretrained ResNet-18 encoder, but the pixel mode trains a per-pixel "
                                "MLP that has none; leave out --init.")
        if encoder.width != model.config.width:
            raise Low2HighError(f"'{path}' holds a ResNet-18 of width {encoder.width} but the U-Net has width "
                                f"{model.config.width}; use --width {encoder.width} or pretrain at width "
                                f"{model.config.width}.")
        if encoder.in_channels != model.config.in_channels:
            raise Low2HighError(f"'{path}' takes {encoder.in_channels} bands but the dataset has "
                                f"{model.config.in_channels}.")
        _check_bands(encoder.band_names, info.band_names, path)
        if any(abs(a - b) > 1e-3 for a, b in zip(list(encoder.mean) + list(encoder.std), info.mean + info.std)):
            progress.warn(f"'{path}' was pretrained with another normalisation than this dataset's; fine-tuning "
                          "adapts to it, but a shared normalisation transfers better.")
        try:
            model.encoder.load_state_dict(encoder.state_dict, strict=True)
        except RuntimeError as error:
            raise Low2HighError(f"'{path}' does not fit the U-Net encoder: {str(error).splitlines()[0]}") from None
        return f"pretrained encoder {os.path.basename(path)}"
    if kind == CHECKPOINT_FORMAT:
        try:
            loaded = checkpoint_from_payload(payload, path)
        except CheckpointError as error:
            raise Low2HighError(str(error)) from None
        wanted = architecture_of(model)
        if loaded.architecture != wanted:
            raise Low2HighError(f"'{path}' is a {loaded.architecture} model but this mode trains a {wanted}.")
        if loaded.config != model.config:
            raise Low2HighError(f"'{path}' has the architecture {loaded.config} but this run builds "
                                f"{model.config} (check --width and the dataset's bands).")
        _check_bands(loaded.card.band_names, info.band_names, path)
        model.load_state_dict(loaded.state_dict, strict=True)
        return f"checkpoint {os.path.basename(path)}"
    raise Low2HighError(f"'{path}' is neither a pretrained encoder (encoder.pt from `pretrain`) nor a Low2High model "
                        "checkpoint.")


def model_card(info: DatasetInfo, tile_size: int, tile_overlap: int, description: str,
               training: dict[str, Any], standardisation: str = "dataset", min_mapping_unit: float = 0.0,
               colour_refinement: bool = False, input_statistics: str = "model") -> ModelCard:
    """The card of a model trained on ``info``'s dataset: its bands, normalisation, GSD and classes."""
    try:
        return ModelCard(class_names=list(info.class_names), taxonomy="merged", band_names=list(info.band_names),
                         mean=list(info.mean), std=list(info.std), gsd=info.gsd, tile_size=tile_size,
                         tile_overlap=tile_overlap, description=description, training=training,
                         standardisation=standardisation, min_mapping_unit=min_mapping_unit,
                         colour_refinement=colour_refinement, input_statistics=input_statistics)
    except CheckpointError as error:
        raise Low2HighError(f"Invalid model description: {error}") from None


def ema_model(network: nn.Module, decay: float) -> nn.Module:
    """A moving average of ``network``'s weights and buffers (batch-norm statistics too), updated per step.

    Selecting one epoch's weights is a lottery when validation swings from epoch to epoch (agg+adv
    at lr 1e-3); the average over the last ~1 / (1 - decay) steps is a smoother end point.
    """
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(network, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def command_line() -> str:
    """The command that is running, for provenance (``python -m low2high.train ...`` when it is that)."""
    arguments = " ".join(shlex.quote(argument) for argument in sys.argv[1:])
    if sys.argv and sys.argv[0].endswith("__main__.py"):
        return f"python -m low2high.train {arguments}"
    return " ".join(shlex.quote(argument) for argument in sys.argv)
