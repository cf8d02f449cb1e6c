"""The training modes: one table that fit, finetune, the benchmarks, the CLI and QGIS's LOSS list read.

A mode is a label loss and what comes with it: the labels it compares with (fine labels, the
coarse labels, or what each raw coarse code means: a prior table), whether the adversarial term of
Sec. 4.4 is added, the network it trains, how ``fit`` selects its epoch, and a line of help. Every
decision that depends on the mode reads one of these properties, never the mode's name (a test
scans the package for name tests), so a new loss is one :class:`Mode` entry in ``_TABLE`` and its
function. The table's order is the order of every list made from it: the CLI's choices, the
benchmark's rows and QGIS's LOSS options, whose numbers saved graphical models store; append new
modes, never insert or rename (the names are stored in model cards, configs and QGIS projects).

This module imports no torch: QGIS builds finetune's LOSS list from it when it starts, where
PyTorch may not be installed. So each loss function below imports the tensor maths of
:mod:`.fit.losses` when it is first called.
"""
from __future__ import annotations

import enum
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Protocol

if TYPE_CHECKING:
    from torch import Tensor


class Target(enum.Enum):
    """What a mode's loss compares the network's logits with."""

    FINE = "fine"
    """The 1 m labels (only ``high``, the upper bound that needs them everywhere)."""
    COARSE = "coarse"
    """Each n × n cell's merged coarse label."""
    PRIOR = "prior"
    """What each cell's raw coarse code means, p(class | code), from a prior table (``coarse-prior``)."""


class Network(enum.Enum):
    """The network a mode trains (:func:`.fit.model_setup.build_segmentation_network` builds it)."""

    UNET = enum.auto()
    """The U-Net on a ResNet-18 encoder (the paper's), the network of every base model finetune starts from."""
    PIXEL_MLP = enum.auto()
    """A per-pixel MLP without spatial context (the ``pixel`` baseline)."""


Selection = Literal["fine", "coarse", "aggregated"]
"""A validation reference of :mod:`.scoring.validation` (its ``REFERENCES``)."""


class Labels(Protocol):
    """A batch's labels as a loss asks for them, on the logits' device (:func:`.fit.steps.label_loss` makes it)."""

    factor: int
    """n: the side of a coarse cell in pixels."""
    aggregate_mean: bool
    """Eq. 1 on the mean logit of a cell instead of the sum (``fit --aggregate mean``)."""

    def fine(self) -> Tensor:
        """Fine labels ``(B, H, W)``."""

    def coarse(self) -> Tensor:
        """Merged coarse labels ``(B, H/n, W/n)``."""

    def distribution(self) -> tuple[Tensor, Tensor]:
        """Each cell's target distribution ``(B, K, h, w)`` and where it has one ``(B, h, w)``."""


LossFunction = Callable[["Tensor", Labels], "Tensor"]


def fine_cross_entropy(logits: Tensor, labels: Labels) -> Tensor:
    """Every pixel against its fine label."""
    from .fit.losses import cross_entropy

    return cross_entropy(logits, labels.fine())


def upsampled_cross_entropy(logits: Tensor, labels: Labels) -> Tensor:
    """Every pixel against its cell's merged coarse label."""
    from .fit import losses

    return losses.upsampled_cross_entropy(logits, labels.coarse(), labels.factor)


def aggregated_cross_entropy(logits: Tensor, labels: Labels) -> Tensor:
    """Eq. 1: each cell's summed (or mean) logits against its merged coarse label."""
    from .fit import losses

    return losses.aggregated_cross_entropy(logits, labels.coarse(), labels.factor, labels.aggregate_mean)


def distribution_kl(logits: Tensor, labels: Labels) -> Tensor:
    """Each cell's mean predicted distribution against what its raw code means (KL)."""
    from .fit import losses

    return losses.distribution_kl(logits, *labels.distribution(), labels.factor)


def pixel_distribution_cross_entropy(logits: Tensor, labels: Labels) -> Tensor:
    """Every pixel against what its cell's raw code means (soft cross entropy)."""
    from .fit import losses

    return losses.pixel_distribution_cross_entropy(logits, *labels.distribution(), labels.factor)


@dataclass(frozen=True)
class Mode:
    """One training mode; see the module docstring. Its ``name`` is what configs, cards and QGIS store."""

    name: str
    target: Target
    loss: LossFunction
    selection: Selection
    """Which validation score ``fit`` selects the epoch on (Sec. 5.1: the labels the mode trains on, seen
    as its loss sees them; :mod:`.scoring.validation` says why aggregation modes use ``aggregated``)."""
    title: str
    """The row's name in the benchmark's tables ("(ours)": not in the paper)."""
    help: str
    adversarial: bool = False
    """Adds the adversarial term against 1 m label exemplars (a discriminator, ``AdversarialStep``)."""
    network: Network = Network.UNET
    logit_adjustable: bool = False
    """``fit --logit-adjust`` applies: a per-pixel coarse loss, where a per-class bias on the logits is the
    logit-adjusted loss (Menon et al.)."""

    @property
    def needs_prior(self) -> bool:
        """Trained against a prior table (``fit --prior``, finetune's PRIOR)."""
        return self.target is Target.PRIOR

    @property
    def chip_labels(self) -> str:
        """The labels every training chip must hold (``ChipDataset``'s ``require``)."""
        return "fine" if self.target is Target.FINE else "coarse"

    @property
    def learns_from_coarse_labels(self) -> bool:
        """A loss ``finetune`` offers: it needs no fine labels and trains the U-Net every base model is."""
        return self.target is not Target.FINE and self.network is Network.UNET


PIXEL = Mode("pixel", Target.COARSE, upsampled_cross_entropy, "coarse", "Pixel (no context)",
             "a context-free per-pixel MLP on upsampled coarse labels (a baseline that cannot learn "
             "\"suburb -> impervious\")", network=Network.PIXEL_MLP)
LOW = Mode("low", Target.COARSE, upsampled_cross_entropy, "coarse", "Low",
           "cross entropy against coarse labels upsampled to the image (the naive baseline)", logit_adjustable=True)
HIGH = Mode("high", Target.FINE, fine_cross_entropy, "fine", "High",
            "cross entropy against fine labels (the upper bound: needs fine labels everywhere)")
AGG = Mode("agg", Target.COARSE, aggregated_cross_entropy, "aggregated", "Agg",
           "region aggregation: the logits of each n x n cell are summed and compared with the coarse label "
           "(Eq. 1); predictions stay at native resolution")
AGG_ADV = Mode("agg+adv", Target.COARSE, aggregated_cross_entropy, "aggregated", "Agg+Adv",
               "agg plus the adversarial term against 1 m label exemplars that have no correspondence to the images "
               "(soft argmax tau = 1e3, blur 3x3 sigma 0.6, hinge loss): the paper's method",
               adversarial=True)
AGG_DIST = Mode("agg-dist", Target.PRIOR, distribution_kl, "aggregated", "Agg-Dist (ours)",
                "each cell's mean predicted distribution against what its coarse code means (KL to the prior's "
                "row of its raw code; needs a prior table)")
AGG_DIST_ADV = Mode("agg-dist+adv", Target.PRIOR, distribution_kl, "aggregated", "Agg-Dist+Adv (ours)",
                    "agg-dist plus agg+adv's adversarial term", adversarial=True)
LOW_DIST = Mode("low-dist", Target.PRIOR, pixel_distribution_cross_entropy, "coarse", "Low-Dist (ours)",
                "every pixel against what its cell's coarse code means (soft cross entropy with the prior's row "
                "of its raw code; needs a prior table)", logit_adjustable=True)
LOW_DIST_ADV = Mode("low-dist+adv", Target.PRIOR, pixel_distribution_cross_entropy, "coarse", "Low-Dist+Adv (ours)",
                    "low-dist plus agg+adv's adversarial term", adversarial=True, logit_adjustable=True)

_TABLE = (PIXEL, LOW, HIGH, AGG, AGG_ADV, AGG_DIST, AGG_DIST_ADV, LOW_DIST, LOW_DIST_ADV)
MODES: dict[str, Mode] = {mode.name: mode for mode in _TABLE}
"""Name → mode, in the table's order: ``fit --mode``'s choices."""
FINETUNE_LOSSES = tuple(mode.name for mode in _TABLE if mode.learns_from_coarse_labels)
"""finetune's LOSS choices, in the order of QGIS's enum (whose numbers saved models store)."""


def training_mode(name: str) -> Mode:
    """The mode called ``name``.

    Raises:
        ValueError: naming the modes there are.
    """
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {name!r})") from None


def names(condition: Callable[[Mode], bool]) -> str:
    """The names of the modes that meet ``condition``, for help texts: "low, low-dist, low-dist+adv"."""
    return ", ".join(mode.name for mode in _TABLE if condition(mode))


def without_prior(mode: Mode) -> Mode:
    """What a prior-less run trains instead of ``mode``: region aggregation on the merged labels, with the
    same adversarial term (finetune over a taxonomy that has no prior)."""
    if not mode.needs_prior:
        return mode
    return AGG_ADV if mode.adversarial else AGG


def describe(modes: tuple[str, ...] = tuple(MODES), indent: int = 2, width: int = 100) -> str:
    """The modes and their help as an aligned, wrapped list (``fit --help``, ``finetune --help``)."""
    column = max(len(name) for name in modes) + 2
    lines = []
    for name in modes:
        lines += textwrap.wrap(MODES[name].help, width, initial_indent=" " * indent + name.ljust(column),
                               subsequent_indent=" " * (indent + column))
    return "\n".join(lines)
