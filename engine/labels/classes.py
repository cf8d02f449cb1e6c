"""The merged land-cover taxonomy every Low2High class raster uses (the paper's Table S1).

Codes 0 water, 1 forest, 2 field, 3 impervious; 255 is nodata / ignore everywhere.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...core.contract import MERGED_CLASSES as MERGED_NAMES
from ...core.contract import NODATA
from ...core.errors import Low2HighError

__all__ = ["MERGED_NAMES", "NODATA", "MERGED_COLOURS", "class_colours", "check_class_codes"]
MERGED_COLOURS = (
    (38, 115, 222),   # water: blue
    (27, 120, 55),    # forest: dark green
    (182, 220, 110),  # field: light green
    (190, 70, 60),    # impervious: brick red, as NLCD's developed classes
)
#: Colours for classes beyond the merged four (models trained on other taxonomies).
_EXTRA_COLOURS = ((255, 190, 0), (150, 90, 190), (120, 120, 120), (0, 200, 200), (240, 120, 180), (140, 100, 40))


def class_colours(class_names: Sequence[str]) -> list[tuple[int, int, int]]:
    """Display colours for a list of class names: the merged ones keep their colours.

    Other classes (a model of another taxonomy, a Deepness model with its own classes) take the
    few hand-picked extra colours, then generated ones, so every class of a long list is told apart.
    """
    colours = []
    for index, name in enumerate(class_names):
        if name in MERGED_NAMES:
            colours.append(MERGED_COLOURS[MERGED_NAMES.index(name)])
        elif index < len(_EXTRA_COLOURS):
            colours.append(_EXTRA_COLOURS[index])
        else:
            colours.append(generated_colour(index))
    return colours


def generated_colour(index: int) -> tuple[int, int, int]:
    """A colour for class ``index``: hues a golden angle apart, three brightness levels in turn.

    Neighbouring codes get far-apart hues, and no two codes below 256 get the same colour.
    """
    hue = (index * 0.381966) % 1.0
    saturation, value = (0.75, 0.9), (0.55, 0.95, 0.7)
    return _rgb(hue, saturation[index % 2], value[index % 3])


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    import colorsys

    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def check_class_codes(codes: np.ndarray, what: str, advice: str, num_classes: int = len(MERGED_NAMES),
                      nodata: int = NODATA) -> None:
    """Refuse codes that are neither classes ``0 … num_classes - 1`` nor ``nodata`` (the one such check).

    Args:
        codes: Integer class codes of any shape.
        what: Names the array in the sentence, e.g. "PREDICTION" or "The exemplar raster".
        advice: What the user should do, e.g. "Remap it to the merged taxonomy first (low2high:remap)."
        num_classes: Number of valid classes.
        nodata: The ignore code.

    Raises:
        Low2HighError: naming up to ten stray codes.
    """
    stray = (codes >= num_classes) & (codes != nodata)
    if np.issubdtype(codes.dtype, np.signedinteger):
        stray |= codes < 0
    if stray.any():
        found = ", ".join(str(code) for code in np.unique(codes[stray])[:10].tolist())
        names = (" (" + ", ".join(f"{index} {name}" for index, name in enumerate(MERGED_NAMES)) + f", {nodata} nodata)"
                 if num_classes == len(MERGED_NAMES) else "")
        raise Low2HighError(f"{what} holds codes that are not classes 0–{num_classes - 1} nor nodata {nodata}{names}: "
                            f"{found}. {advice}")
