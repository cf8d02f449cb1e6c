"""BANDS: which bands of the input raster feed the model, and in which order.

A model takes a fixed number of bands in a fixed order (the card's ``band_names``); rasters come
with more (RGBN imagery for an RGB model) or in another order (BGR). BANDS names the raster
bands, 1-based, in the model's input order ("1,2,3", "3,2,1"); left empty, a raster with the
model's number of bands is read as it is, and one with more gives its first bands, with a
warning naming them, as Deepness maps channels by default.
"""
from __future__ import annotations

from typing import Optional, Sequence

from ...core.errors import Low2HighError
from ...core.progress import Progress
from .model_info import ModelInfo


def parse_bands(text: Optional[str]) -> Optional[list[int]]:
    """``"1,2,3"`` (commas and/or spaces) → ``[1, 2, 3]``; None or blank → None.

    Raises:
        Low2HighError: something other than whole numbers from 1.
    """
    if text is None or not str(text).strip():
        return None
    parts = [part for part in str(text).replace(",", " ").split() if part]
    try:
        bands = [int(part) for part in parts]
    except ValueError:
        raise Low2HighError(f"BANDS must list band numbers such as 1,2,3 (got '{text}').") from None
    if any(band < 1 for band in bands):
        raise Low2HighError(f"BANDS numbers bands from 1 (got '{text}').")
    return bands


def choose_bands(raster_bands: int, info: ModelInfo, requested: Optional[Sequence[int]],
                 progress: Progress) -> Optional[list[int]]:
    """The raster bands to feed the model, in order; None when the raster is read as it is.

    Raises:
        Low2HighError: BANDS names bands the raster lacks, or lists more or fewer than the model
            takes; or, with BANDS empty, the raster has fewer bands than the model takes.
    """
    wanted = info.num_bands
    model = f"{wanted} bands ({', '.join(info.band_names)})"
    if requested is not None:
        absent = sorted({band for band in requested if band > raster_bands})
        if absent:
            listed = ", ".join(str(band) for band in absent)
            raise Low2HighError(f"BANDS names band {listed}, but the input raster has {raster_bands} band"
                                f"{'s' if raster_bands != 1 else ''}.")
        if len(requested) != wanted:
            raise Low2HighError(f"BANDS lists {len(requested)} band{'s' if len(requested) != 1 else ''} but the model "
                                f"takes {model}: list one raster band for each, in that order.")
        return None if list(requested) == list(range(1, raster_bands + 1)) else list(requested)
    if raster_bands == wanted:
        return None
    if raster_bands < wanted:
        raise Low2HighError(
            f"The model expects {model} but the input raster has {raster_bands}. Choose imagery with those bands in "
            f"that order, or a model made for {raster_bands}-band imagery.")
    chosen = list(range(1, wanted + 1))
    progress.warn(f"The input raster has {raster_bands} bands and the model takes {wanted}: raster bands "
                  f"{', '.join(str(band) for band in chosen)} feed it as {', '.join(info.band_names)}. Set BANDS "
                  "(e.g. 3,2,1) to choose others.")
    return chosen
