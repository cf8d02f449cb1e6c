"""Fine-tune a model on polygons over your imagery, supervised by coarse labels only (``low2high:finetune``).

The same engine as the QGIS algorithm, for servers without QGIS (a GPU is used when PyTorch sees
one): the polygons come from a vector file (``--areas-file``, any CRS GDAL reads), everything else
is a flag named after the algorithm's parameter. Example:

  python -m low2high.train finetune --image naip.tif --labels nlcd.tif --areas-file areas.gpkg \\
      --output mine.pt --steps 200 --loss agg

Writes mine.pt and mine.onnx (published together when both are complete); prints the agreement of
the aggregated prediction with the coarse labels before and after, the loss and the kept step.
"""
from __future__ import annotations

import argparse
import dataclasses

from ...core.errors import Low2HighError
from ..config import add_config_arguments, resolve_config
from ..finetune.config import LOSSES, FinetuneConfig
from ..modes import describe

HELP = "fine-tune a model on polygons over your imagery with coarse labels only (the QGIS finetune, headless)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = f"{parser.description}\nLosses (--loss; fit's modes of the same names):\n{describe(LOSSES)}\n"
    parser.add_argument("--areas-file", metavar="FILE", default="",
                        help="vector file (GeoPackage, Shapefile, GeoJSON...) whose polygons are the AREAS; its CRS "
                             "is read from the file")
    parser.add_argument("--areas-layer", metavar="NAME", default="", help="layer of --areas-file (default: the first)")
    add_config_arguments(parser, FinetuneConfig)


def run(args: argparse.Namespace) -> int:
    from ...core.progress import ConsoleProgress
    from ...engine.geo.gdal_scope import gdal_session
    from ..finetune.areas import read_area_file
    from ..finetune.repair import repair_polygons
    from ..finetune.task import finetune

    config = resolve_config(FinetuneConfig, args)
    if args.areas_file:
        if config.areas:
            raise Low2HighError("Give the polygons either as --areas (WKT) or as --areas-file, not both: their "
                                "coordinates may be in different CRSs.")
        with gdal_session():
            wkt, crs = read_area_file(args.areas_file, args.areas_layer)
        # the file's own CRS; --areas-crs only for a file that carries none
        config = dataclasses.replace(config, areas=wkt, areas_crs=crs or config.areas_crs)
    progress = ConsoleProgress()
    config = dataclasses.replace(config, areas=repair_polygons(config.areas, progress))
    result = finetune(config, progress)
    print(f"{result.output} (+ {result.onnx}): kept step {result.best_step} of {result.steps}; aggregated "
          f"agreement with the coarse labels {result.before['macro_iou']:.1%} -> {result.after['macro_iou']:.1%} mIoU, "
          f"{result.seconds:.0f} s")
    return 0
