"""The model card: what a model file says about itself, shared by ``.pt`` and ``.onnx`` files.

A model is only usable in QGIS if its file also says which bands it reads, how to normalise
them, at which ground sample distance it was trained and what its classes are. This module
defines that description (:class:`ModelCard`), its validation, and :class:`CheckpointError`,
the error every model-file problem becomes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Union

from ..core.contract import CARD_STATISTICS, MERGED_CLASSES, NAIP_BANDS, STANDARDISATIONS, model_input
from .config import INPUT_MULTIPLE, PixelMLPConfig, UNetConfig

FORMAT_VERSION = 1
"""Version of the description layout; files with a larger number come from a newer Low2High."""
ARCHITECTURE = "unet-resnet18"
"""The paper's network, and the default architecture of a model file."""
ARCHITECTURE_CONFIGS: dict[str, type] = {ARCHITECTURE: UNetConfig, "pixel-mlp": PixelMLPConfig}
"""Architecture name stored in a model file -> its (torch-free) config class."""
NetworkConfig = Union[UNetConfig, PixelMLPConfig]


class CheckpointError(ValueError):
    """A model file cannot be used; ``str(error)`` is a sentence meant for the end user."""


def existing_model_file(path: Union[str, os.PathLike]) -> Path:
    """``path`` as a Path once it names a file; a missing file or a folder is a CheckpointError."""
    file = Path(path)
    if not file.exists():
        raise CheckpointError(f"Model file not found: {path}")
    if file.is_dir():
        raise CheckpointError(f"{path} is a folder, not a model file")
    return file


def to_plain(value: Any, where: str, *, allow_tensors: bool = False) -> Any:
    """Copy ``value`` keeping only JSON-like types (and CPU tensors if allowed).

    ``torch.load(weights_only=True)`` refuses anything else (numpy scalars included), so
    checking at save time turns an unloadable checkpoint into an immediate, clear error.

    Args:
        value: Nested dicts, lists, tuples, strings, numbers, booleans, None (and tensors).
        where: Name of the value for the error message.
        allow_tensors: Accept tensors (moved to the CPU).

    Returns:
        The copy, with tuples turned into lists, dict keys into strings and numpy scalars into
        Python numbers.

    Raises:
        CheckpointError: If something else is found.
    """
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return to_plain(value.item(), where)  # numpy scalar -> Python number
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, f"{where}[{k!r}]", allow_tensors=allow_tensors)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, f"{where}[{i}]", allow_tensors=allow_tensors)
                for i, v in enumerate(value)]
    if allow_tensors:
        import torch  # only checkpoints hold tensors; reading a card needs no torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu()
    raise CheckpointError(
        f"{where} holds a {type(value).__name__}; only numbers, text, lists and dicts"
        f"{', tensors' if allow_tensors else ''} can be stored in a model file"
    )


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckpointError(f"{name} must be a positive whole number, got {value!r}")
    return value


@dataclass
class ModelCard:
    """What a user of the model must know besides the weights.

    Attributes:
        class_names: Name of each output class, in logit order.
        taxonomy: Label taxonomy the classes come from ("merged" = paper Table S1).
        band_names: Image bands the model expects, in input order.
        mean: Per-band mean, in units of pixel/255.
        std: Per-band standard deviation, in units of pixel/255. The network input is
            ``(pixel / 255 - mean) / std`` (the Deepness plugin's convention); the defaults
            (0 and 1) mean "pixel / 255".
        gsd: Ground sample distance the model was trained at, in metres per pixel.
        tile_size: Default inference tile side in pixels (a multiple of 32).
        tile_overlap: Default overlap between neighbouring tiles in pixels.
        description: Free text for the user.
        training: Provenance (mode, epochs, command, dataset, ...); JSON-like values only.
        standardisation: "dataset" (the input is normalised with ``mean``/``std``) or "tile" (with
            each tile's own per-band mean/std, :func:`~.contract.model_input`); cards written
            before this field existed mean "dataset".
        probability_threshold: Pixels whose most probable class is less probable than this get
            class 0, the rule of the Deepness plugin's ``seg_thresh`` (a model imported from
            Deepness keeps its threshold, so ``segment`` draws the map its makers tuned). 0, the
            default, turns it off: a land-cover map has no "background" class to fall back to.
        min_mapping_unit: Smallest patch, in square metres, that ``segment`` keeps on the class map by
            default (smaller ones join their largest neighbour); 0 keeps every pixel as classified.
            A model's makers know how speckled its maps are, as they know its tile overlap.
        colour_refinement: Whether ``segment`` sharpens the map by default with the classified image's
            own class colours, fitted on the model's surest pixels
            (:mod:`~low2high.engine.labels.colour_refinement`); for models whose maps are right in
            the large and blurred in the small, as those taught by coarse labels.
        input_statistics: What ``segment``'s INPUT_STATISTICS ``auto`` feeds a ``dataset`` card's
            model: ``model`` (its ``mean``/``std``, as trained: the default), ``blend`` (half those,
            half the classified region's own) or ``image`` (the region's own); see
            :data:`~.contract.CARD_STATISTICS`. Ignored by ``tile`` cards.
    """

    class_names: list[str] = field(default_factory=lambda: list(MERGED_CLASSES))
    taxonomy: str = "merged"
    band_names: list[str] = field(default_factory=lambda: list(NAIP_BANDS))
    mean: list[float] = field(default_factory=lambda: [0.0] * len(NAIP_BANDS))
    std: list[float] = field(default_factory=lambda: [1.0] * len(NAIP_BANDS))
    gsd: float = 1.0
    tile_size: int = 512
    tile_overlap: int = 64
    description: str = ""
    training: dict = field(default_factory=dict)
    standardisation: str = "dataset"
    probability_threshold: float = 0.0
    min_mapping_unit: float = 0.0
    colour_refinement: bool = False
    input_statistics: str = "model"

    def __post_init__(self) -> None:
        if self.standardisation not in STANDARDISATIONS:
            raise CheckpointError(f"standardisation must be one of {', '.join(STANDARDISATIONS)}, "
                                  f"got {self.standardisation!r}")
        self.class_names = self._names(self.class_names, "class_names")
        self.band_names = self._names(self.band_names, "band_names")
        self.mean = self._numbers(self.mean, "mean")
        self.std = self._numbers(self.std, "std")
        bands = len(self.band_names)
        if not len(self.mean) == len(self.std) == bands:
            raise CheckpointError(
                f"the model needs one mean and one std per band: {bands} bands "
                f"({', '.join(self.band_names)}) but {len(self.mean)} means and "
                f"{len(self.std)} stds"
            )
        if any(s <= 0 for s in self.std):
            raise CheckpointError(f"every band std must be greater than 0, got {self.std}")
        gsd = self._numbers([self.gsd], "gsd")[0]
        if gsd <= 0:
            raise CheckpointError(f"gsd (metres per pixel) must be greater than 0, got {gsd}")
        self.gsd = gsd
        threshold = self._numbers([self.probability_threshold], "probability_threshold")[0]
        if not 0 <= threshold <= 1:
            raise CheckpointError(f"probability_threshold must be from 0 to 1, got {threshold}")
        self.probability_threshold = threshold
        unit = self._numbers([self.min_mapping_unit], "min_mapping_unit")[0]
        if unit < 0:
            raise CheckpointError(f"min_mapping_unit (m²) must be 0 or more, got {unit}")
        self.min_mapping_unit = unit
        if not isinstance(self.colour_refinement, bool):
            raise CheckpointError(f"colour_refinement must be true or false, got {self.colour_refinement!r}")
        if self.input_statistics not in CARD_STATISTICS:
            raise CheckpointError(f"input_statistics must be one of {', '.join(CARD_STATISTICS)}, "
                                  f"got {self.input_statistics!r}")
        self.tile_size = _positive_int(self.tile_size, "tile_size")
        if self.tile_size % INPUT_MULTIPLE:
            raise CheckpointError(
                f"tile_size must be a multiple of {INPUT_MULTIPLE}, got {self.tile_size}"
            )
        overlap = self.tile_overlap
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not (
            0 <= overlap < self.tile_size
        ):
            raise CheckpointError(
                f"tile_overlap must be a whole number from 0 to {self.tile_size - 1}, "
                f"got {overlap!r}"
            )
        if not isinstance(self.taxonomy, str) or not isinstance(self.description, str):
            raise CheckpointError("taxonomy and description must be text")
        if not isinstance(self.training, Mapping):
            raise CheckpointError(f"training must be a dict, got {type(self.training).__name__}")
        self.training = to_plain(self.training, "training")

    @staticmethod
    def _names(values: Any, name: str) -> list[str]:
        if isinstance(values, str) or not isinstance(values, (list, tuple)) or not values:
            raise CheckpointError(f"{name} must be a non-empty list of names, got {values!r}")
        if not all(isinstance(v, str) and v for v in values):
            raise CheckpointError(f"every entry of {name} must be a non-empty text, got {values}")
        if len(set(values)) != len(values):
            raise CheckpointError(f"{name} contains duplicates: {list(values)}")
        return list(values)

    @staticmethod
    def _numbers(values: Any, name: str) -> list[float]:
        if isinstance(values, str) or not isinstance(values, (list, tuple)):
            raise CheckpointError(f"{name} must be a list of numbers, got {values!r}")
        numbers = []
        for value in values:
            numpy_scalar = type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0
            if isinstance(value, bool) or not (isinstance(value, (int, float)) or numpy_scalar):
                raise CheckpointError(f"{name} must contain numbers, got {value!r}")
            number = float(value)
            if not math.isfinite(number):
                raise CheckpointError(f"{name} must contain finite numbers, got {value!r}")
            numbers.append(number)
        return numbers

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build a card from a stored dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form stored in checkpoints and ONNX metadata."""
        return asdict(self)

    def normalise(self, pixels: Any, valid: Any = None) -> Any:
        """The network input for raw (bands, H, W) pixels: :func:`~.contract.model_input` with this card."""
        return model_input(pixels, valid, self.mean, self.std, self.standardisation)


def parse_description(
    meta: Mapping[str, Any], *, expected_format: str, source: str
) -> tuple[NetworkConfig, ModelCard]:
    """Validate the self-description shared by checkpoints and ONNX metadata.

    Args:
        meta: Dict with ``format``, ``format_version``, ``architecture``, ``config``, ``card``.
        expected_format: ``"low2high.checkpoint"`` or ``"low2high.onnx"``.
        source: The file, named in error messages.

    Returns:
        The architecture arguments and the model card.

    Raises:
        CheckpointError: For a foreign format, a newer format version, an unknown architecture
            or an invalid or inconsistent description.
    """
    found = meta.get("format")
    if found != expected_format:
        raise CheckpointError(
            f"{source} is not a Low2High model (its format is {found!r}, "
            f"expected {expected_format!r})"
        )
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{source} is damaged: invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} was made by a newer Low2High (file format version {version}; this "
            f"version reads up to {FORMAT_VERSION}); update the Low2High plugin to use it"
        )
    architecture = meta.get("architecture")
    if architecture not in ARCHITECTURE_CONFIGS:
        known = ", ".join(repr(name) for name in ARCHITECTURE_CONFIGS)
        raise CheckpointError(
            f"{source} uses the network architecture {architecture!r}, which this version of "
            f"Low2High cannot build (it knows {known}); update the Low2High plugin"
        )
    config_data = meta.get("config")
    if not isinstance(config_data, Mapping):
        raise CheckpointError(f"{source} is damaged: its architecture description is missing")
    try:
        config = ARCHITECTURE_CONFIGS[architecture](**config_data)
    except (TypeError, ValueError) as error:
        raise CheckpointError(
            f"{source} has an invalid architecture description: {error}"
        ) from error
    card_data = meta.get("card")
    if not isinstance(card_data, Mapping):
        raise CheckpointError(f"{source} is damaged: its model description (card) is missing")
    try:
        card = ModelCard.from_dict(card_data)
    except (CheckpointError, TypeError) as error:
        raise CheckpointError(f"{source} has an invalid model description: {error}") from error
    check_card_matches(config, card, source)
    return config, card


def check_card_matches(config: NetworkConfig, card: ModelCard, source: str) -> None:
    """Raise :class:`CheckpointError` if the card's bands/classes disagree with the network."""
    if len(card.band_names) != config.in_channels:
        raise CheckpointError(
            f"{source}: the model description lists {len(card.band_names)} bands "
            f"({', '.join(card.band_names)}) but the network takes {config.in_channels}"
        )
    if len(card.class_names) != config.num_classes:
        raise CheckpointError(
            f"{source}: the model description lists {len(card.class_names)} classes "
            f"but the network predicts {config.num_classes}"
        )
