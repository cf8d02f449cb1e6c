"""``python -m low2high segment-many``: map many rasters on a Dask cluster, headless.

    python -m low2high segment-many --inputs 'naip/*.tif' --output-dir maps/ [--model m.pt]
        [--workers N | --scheduler tcp://host:8786] [--strict]

Each map is ``<output-dir>/<input stem>.tif``, exactly what ``segment`` writes for that raster
alone; ``mosaic.vrt`` and ``summary.csv`` come at the end. Run the same command again after an
interruption: only the unfinished rasters are mapped. Exit status: 0 every raster mapped, 1 some
failed or were refused (the summary says which and why), 2 a refusal before any work, 130 stopped.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ...core.contract import INPUT_STATISTICS
from ...core.devices import DEVICES
from ...core.errors import Cancelled, Low2HighError
from ...core.progress import ConsoleProgress
from ...core.signals import cancel_on_termination
from ..inference.bands import parse_bands
from ..inference.precision import PRECISIONS
from ..labels.colour_refinement import REFINEMENTS
from .jobs import MapSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m low2high segment-many", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True, metavar="INPUT",
                        help="rasters, folders, quoted patterns ('naip/*.tif') or text files listing one raster a line")
    parser.add_argument("--output-dir", required=True, help="folder of the maps, the mosaic, the summary and the "
                        "job's manifest (created when missing)")
    parser.add_argument("--model", default="", help=".pt or .onnx model (default: the bundled demo model)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int,
                       help="local worker processes (default: one per core, within free memory at 1 GB each)")
    where.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--strict", action="store_true", help="stop at the first bad input or failed raster")
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--input-statistics", choices=INPUT_STATISTICS, default="auto")
    parser.add_argument("--tile-size", type=int)
    parser.add_argument("--overlap", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--bands", help="raster bands feeding the model, in its order (e.g. 1,2,3)")
    parser.add_argument("--min-mapping-unit", type=float, metavar="M2",
                        help="smaller patches join their largest neighbour (default: the model's; 0: off)")
    parser.add_argument("--colour-refinement", choices=REFINEMENTS, default="auto",
                        help="sharpen each map with its image's class colours: auto (the model card's), on, off")
    parser.add_argument("--window", type=int, default=MapSettings.window, metavar="PX",
                        help="a raster wider or taller than PX pixels is mapped as PX × PX windows spread over the "
                             "workers and assembled as <stem>.vrt (default %(default)s)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from .engine import JobRequest, segment_many

    try:
        if args.workers is not None and args.workers < 1:
            raise Low2HighError(f"--workers must be 1 or more (got {args.workers}).")
        bands = parse_bands(args.bands)
        if args.window < 256:
            raise Low2HighError(f"--window must be 256 pixels or more (got {args.window}).")
        settings = MapSettings(args.model, args.device, args.precision, args.input_statistics, args.tile_size,
                               args.overlap, args.batch_size, tuple(bands) if bands else None,
                               args.min_mapping_unit, args.window, args.colour_refinement)
        request = JobRequest(args.inputs, args.output_dir, settings, args.workers, args.scheduler, args.strict)
        with cancel_on_termination("segment-many"):
            report = segment_many(request, ConsoleProgress())
    except Cancelled:
        print("stopped: the maps finished so far stay, and the same command resumes", file=sys.stderr)
        return 130
    except Low2HighError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped by the user; the maps finished so far stay, and the same command resumes", file=sys.stderr)
        return 130
    return 1 if report.problems else 0
